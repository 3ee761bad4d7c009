"""Incidents: sharps injuries to staff with their post-exposure steps, adverse events and near
misses, and the sharps injury log a regulator asks for (DESIGN §10)."""
