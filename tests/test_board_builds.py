"""Bitstreams, with the firewall built in and every clock meeting its
constraint, and the Xilinx boards' resource estimates. Each takes minutes
to tens of minutes (yosys and nextpnr run as WebAssembly): the Versa's
build runs with the other tests, the rest are behind the slow marker. A
build is stopped after `BUILD_MINUTES`."""

import pytest

from hxdp.boards.build import build_ecp5
from hxdp.boards.catalog import BOARDS, board
from hxdp.boards.control import compile_for
from hxdp.boards.xilinx import write_project
from hxdp.ebpf.load import load_program

from .conftest import EXAMPLES

OTHER_ECP5 = [name for name, b in BOARDS.items() if b.family == "ecp5" and name != "versa_ecp5"
              and name != "colorlight_5a75b"]
XILINX = [name for name, b in BOARDS.items() if b.family == "xilinx"]


BUILD_MINUTES = 70
# The rest of the suite runs beside the Versa's build and takes CPU from
# its router, so a seed gets longer than a build alone gives it before it
# is given up (a seed's placement is the same either way).
ROUTE_MINUTES = 20


def _build(name: str, tmp_path):
    b = board(name)
    image = compile_for(b, load_program(EXAMPLES / "firewall.c"))
    report = build_ecp5(b, image, tmp_path, time_limit=BUILD_MINUTES * 60, route_limit=ROUTE_MINUTES * 60)
    print("\n".join(report.lines()))
    assert (tmp_path / "hxdp_nic.bit").stat().st_size > 100_000
    assert {c.name for c in report.clocks} and report.met, "\n".join(report.lines())
    assert report.used["LUT"][0] > 0 and report.used["BRAM"][0] > 0
    assert (tmp_path / "summary.txt").read_text().startswith(f"board {name}")


def test_versa_bitstream_with_the_firewall_meets_timing(tmp_path):
    _build("versa_ecp5", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHER_ECP5)
def test_other_ecp5_bitstreams_meet_timing(name, tmp_path):
    _build(name, tmp_path)


@pytest.mark.slow
def test_the_colorlight_build_says_the_engine_does_not_fit(tmp_path):
    from hxdp.errors import HxdpError
    with pytest.raises(HxdpError, match="does not fit"):
        build_ecp5(board("colorlight_5a75b"), None, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", XILINX)
def test_xilinx_estimates(name, tmp_path):
    project = write_project(board(name), None, tmp_path)
    assert project.estimate["LUT"] > 10_000 and project.estimate["BRAM"] > 0
