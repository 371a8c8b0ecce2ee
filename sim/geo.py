"""Geodesy helpers shared by the network and the hazards."""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres (vectorised)."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def line_length_m(coordinates) -> float:
    """Length in metres of a line given as ``[[lon, lat], ...]`` (great-circle segments)."""
    xy = np.asarray(coordinates, dtype=float)
    return float(haversine_m(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]).sum())


def inside_ring(lon, lat, ring) -> np.ndarray:
    """Whether each point lies inside a polygon ring ``[[lon, lat], ...]`` (even-odd rule; closed or not)."""
    x, y = np.asarray(lon, float)[:, np.newaxis], np.asarray(lat, float)[:, np.newaxis]
    xy = np.asarray(ring, dtype=float)
    x1, y1 = xy[:, 0], xy[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    return (crosses & (x < x_at)).sum(axis=1) % 2 == 1


def grid_in_ring(ring, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of the centres of a square grid of cells ``spacing_m`` wide that lie inside a ring (row by row, south
    to north, west to east; the grid starts at the ring's south-west corner)."""
    xy = np.asarray(ring, dtype=float)
    lat0 = float(xy[:, 1].mean())
    m_per_deg_lat = np.radians(1.0) * EARTH_RADIUS_M
    m_per_deg_lon = m_per_deg_lat * np.cos(np.radians(lat0))
    west, south = xy[:, 0].min(), xy[:, 1].min()
    nx = int(np.ceil((xy[:, 0].max() - west) * m_per_deg_lon / spacing_m))
    ny = int(np.ceil((xy[:, 1].max() - south) * m_per_deg_lat / spacing_m))
    gy, gx = np.meshgrid((np.arange(ny) + 0.5) * spacing_m, (np.arange(nx) + 0.5) * spacing_m, indexing="ij")
    lon = west + gx.ravel() / m_per_deg_lon
    lat = south + gy.ravel() / m_per_deg_lat
    keep = inside_ring(lon, lat, xy)
    return lon[keep], lat[keep]
