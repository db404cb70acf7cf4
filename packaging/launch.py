"""Entry point of the packaged app: the same CLI, which opens the window when given no command."""

import sys

if sys.argv[1:2] == ["--studio-model-process"]:  # studio.worker.process.CHILD_FLAG: the window's model process
    from studio.worker.child import main as model_process

    model_process(sys.argv[2:])
else:
    from studio.cli.main import run

    run()
