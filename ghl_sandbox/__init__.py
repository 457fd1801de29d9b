"""A faithful local GoHighLevel ("the sandbox"): a separate process speaking GHL's API over HTTP.

Product code never imports this package; only the `ghl_sandbox` management command, tests and benchmarks do.
See README.md in this folder.
"""
