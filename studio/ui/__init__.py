"""Qt widgets. Nothing here imports torch: heavy work goes to the worker as engine functions."""
