"""One entry point for every kind of program file a command accepts."""

from __future__ import annotations

from pathlib import Path

from ..errors import HxdpError
from ..files import decode_text, read_bytes
from .isa import decode_hex
from .program import Program

__all__ = ["load_program"]

ELF_MAGIC = b"\x7fELF"


def load_program(path: Path | str, section: str | None = None, program: str | None = None) -> Program:
    """Load C source (compiled first), an ELF object, assembly, or hex bytes."""
    path = Path(path)
    if not path.is_file():
        raise HxdpError(f"{path}: no such file")
    if path.suffix == ".c":
        from ..toolchain import compile_c
        from .elf import load_elf
        return load_elf(compile_c(path), section, program, source=path)
    data = read_bytes(path)
    if data.startswith(ELF_MAGIC):
        from .elf import load_elf
        return load_elf(path, section, program)
    if path.suffix == ".o":
        raise HxdpError(f"{path}: not an ELF object (it does not begin with the ELF magic)")
    if path.suffix in (".s", ".S", ".asm"):
        from .asm import assemble
        return Program(path.stem, assemble(decode_text(data, str(path)), str(path)), path=path)
    if path.suffix in (".hex", ".txt", ""):
        return Program(path.stem, decode_hex(decode_text(data, str(path)), str(path)), path=path)
    raise HxdpError(f"{path}: unknown program kind {path.suffix!r}; give a .c, .o, .s or .hex file")

