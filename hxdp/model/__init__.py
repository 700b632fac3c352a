"""The cycle-accurate model of the hxdp core: it executes an image row by
row and counts cycles exactly as the gateware must."""
