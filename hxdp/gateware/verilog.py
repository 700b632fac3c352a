"""The engine as Verilog, with its port list for docs/engine.md."""

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import wiring

from ..image import Image
from ..target import Target
from .engine import Engine, engine_signature

__all__ = ["TOP_NAME", "generate", "port_table"]

TOP_NAME = "hxdp_engine"


def generate(target: Target, image: Image | None = None) -> str:
    """Verilog of the engine for ``target``, with ``image`` built in if given."""
    return verilog.convert(Engine(target, image), name=TOP_NAME, emit_src=False)


def port_table(target: Target) -> str:
    """The top level's ports as a Markdown table: Verilog name, direction, bits."""
    lines = ["| port | direction | bits |", "|---|---|---|", "| clk | input | 1 |", "| rst | input | 1 |"]
    for path, member in engine_signature(target).members.flatten():
        if member.is_port:
            direction = "input" if member.flow is wiring.In else "output"
            lines.append(f"| {'__'.join(map(str, path))} | {direction} | {Shape.cast(member.shape).width} |")
    return "\n".join(lines) + "\n"
