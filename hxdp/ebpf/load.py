"""One entry point for every kind of program file a command accepts."""

from __future__ import annotations

from pathlib import Path

from ..errors import HxdpError
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
        prog = load_elf(compile_c(path), section, program)
        prog.path = path
        return prog
    head = path.read_bytes()[:4]
    if head == ELF_MAGIC:
        from .elf import load_elf
        return load_elf(path, section, program)
    text = path.read_text(errors="replace")
    if path.suffix in (".s", ".S", ".asm"):
        from .asm import assemble
        return Program(path.stem, assemble(text, str(path)), path=path)
    if path.suffix in (".hex", ".txt", ""):
        from .isa import decode
        digits = "".join(text.split())
        try:
            code = bytes.fromhex(digits)
        except ValueError:
            raise HxdpError(f"{path}: expected hex bytes of a program") from None
        return Program(path.stem, decode(code), path=path)
    raise HxdpError(f"{path}: unknown program kind {path.suffix!r}; give a .c, .o, .s or .hex file")
