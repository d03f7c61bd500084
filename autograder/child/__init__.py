"""Code that runs inside the sandbox: the call driver (``__main__``) and the wire format.

This package is copied into each sandbox as ``eecs498_child``; it must import nothing from the
rest of ``autograder`` (which holds tests and references and never enters the sandbox).
"""
