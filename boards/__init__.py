"""Board support: platform glue, Ethernet MACs and top levels, one module per board."""
