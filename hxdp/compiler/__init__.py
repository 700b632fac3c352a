"""The optimising compiler from eBPF to VLIW bundles.

Analyses and passes live one to a file: `cfg` (basic blocks and edges),
`dominators` (dominator and post-dominator trees), `liveness` (live
registers). Each takes the previous stage's objects and returns new ones.
"""
