"""``python -m eecs498 submit`` works in a released folder, where no console script is installed."""
from eecs498.cli import main

main()
