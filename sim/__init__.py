"""Packet-level simulation of the generated engine (pcap in, pcap out)."""
