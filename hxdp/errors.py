"""The errors hxdp reports to its users.

Every error a user can cause (a bad file, program, packet or option) is an
`HxdpError`: the command line prints its message and exits with status 1,
without a traceback. Messages name the file, section, instruction or packet
and say what to do.
"""

__all__ = ["HxdpError", "ToolMissing"]


class HxdpError(Exception):
    """An error caused by the user's input, with a message fit to show them."""


class ToolMissing(HxdpError):
    """An external tool (C compiler, Verilator, Yosys...) was not found."""
