"""The ECP5's PLL (EHXPLLL): dividers for a board's clock, and the instance.

The primary output feeds back, so it is the input times CLKFB_DIV over
CLKI_DIV; the VCO runs at that times CLKOP_DIV and must lie within
400-800 MHz; the secondary output is the VCO over CLKOS_DIV.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Instance, Module, Signal

from hxdp.errors import HxdpError

__all__ = ["PllPlan", "plan_pll", "ecp5_pll"]

VCO_MHZ = (400.0, 800.0)
PFD_MIN_MHZ = 3.125
DIVIDER_MAX = 128


@dataclass(frozen=True)
class PllPlan:
    input_mhz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int
    clkos_div: int

    @property
    def vco_mhz(self) -> float:
        return self.primary_mhz * self.clkop_div

    @property
    def primary_mhz(self) -> float:
        return self.input_mhz * self.clkfb_div / self.clki_div

    @property
    def secondary_mhz(self) -> float:
        return self.vco_mhz / self.clkos_div


def plan_pll(input_mhz: float, primary_mhz: float, secondary_max_mhz: float) -> PllPlan:
    """Dividers giving exactly ``primary_mhz`` and the fastest secondary
    clock not above ``secondary_max_mhz``."""
    best: PllPlan | None = None
    for clki in range(1, DIVIDER_MAX + 1):
        if input_mhz / clki < PFD_MIN_MHZ:
            break
        for clkfb in range(1, DIVIDER_MAX + 1):
            if abs(input_mhz * clkfb / clki - primary_mhz) > 1e-6:
                continue
            for clkop in range(1, DIVIDER_MAX + 1):
                vco = primary_mhz * clkop
                if not VCO_MHZ[0] <= vco <= VCO_MHZ[1]:
                    continue
                clkos = max(1, -int(-vco // secondary_max_mhz))
                if clkos > DIVIDER_MAX:
                    continue
                plan = PllPlan(input_mhz, clki, clkfb, clkop, clkos)
                if best is None or plan.secondary_mhz > best.secondary_mhz:
                    best = plan
    if best is None:
        raise HxdpError(f"the ECP5 PLL cannot make {primary_mhz} MHz and at most {secondary_max_mhz} MHz "
                        f"from {input_mhz} MHz")
    return best


def ecp5_pll(m: Module, plan: PllPlan, clock_in, primary, secondary, locked: Signal) -> None:
    """An EHXPLLL in ``m`` per ``plan``: ``clock_in`` to ``primary`` (CLKOP)
    and ``secondary`` (CLKOS)."""
    m.submodules.pll = Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=str(plan.input_mhz), a_FREQUENCY_PIN_CLKOP=str(plan.primary_mhz),
        a_FREQUENCY_PIN_CLKOS=str(plan.secondary_mhz),
        a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
        p_CLKI_DIV=plan.clki_div, p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=plan.clkfb_div,
        p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=plan.clkop_div, p_CLKOP_CPHASE=plan.clkop_div - 1,
        p_CLKOP_FPHASE=0,
        p_CLKOS_ENABLE="ENABLED", p_CLKOS_DIV=plan.clkos_div, p_CLKOS_CPHASE=plan.clkos_div - 1,
        p_CLKOS_FPHASE=0,
        i_CLKI=clock_in, i_CLKFB=primary, i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0,
        i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, i_ENCLKOS=0,
        o_CLKOP=primary, o_CLKOS=secondary, o_LOCK=locked)
