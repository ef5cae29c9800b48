"""Approximate kelurahan centroids of Kota Jambi and the distance between them.

NOTE: the coordinates are synthetic. Each kecamatan gets a rough centre near
where it lies in the city, and its kelurahan are spread on a circle of about
1.3 km around that centre. They are good enough to tell "same neighbourhood"
from "across the city" (Kota Jambi is about 20 km across), not for maps.
Replace them with surveyed centroids before using distances for more.
"""

from __future__ import annotations

import math
from functools import lru_cache

from issuance import regions

__all__ = ["centroid", "distance_km"]

EARTH_RADIUS_KM = 6371.0
_KELURAHAN_SPREAD_DEGREES = 0.012

# Kecamatan code -> (latitude, longitude) in degrees, synthetic.
_KECAMATAN_CENTRES = {
    "157101": (-1.630, 103.580),  # Kota Baru
    "157102": (-1.630, 103.620),  # Jambi Selatan
    "157103": (-1.610, 103.620),  # Jelutung
    "157104": (-1.590, 103.612),  # Pasar Jambi
    "157105": (-1.600, 103.570),  # Telanaipura
    "157106": (-1.570, 103.585),  # Danau Teluk
    "157107": (-1.570, 103.625),  # Pelayangan
    "157108": (-1.600, 103.645),  # Jambi Timur
    "157109": (-1.630, 103.540),  # Alam Barajo
    "157110": (-1.598, 103.592),  # Danau Sipin
    "157111": (-1.645, 103.650),  # Paal Merah
}


@lru_cache(maxsize=None)
def centroid(kelurahan_code: str) -> tuple[float, float]:
    """Return the synthetic (latitude, longitude) of a kelurahan; raise RegionNotFoundError for an unknown code."""
    kelurahan = regions.kelurahan_by_code(kelurahan_code)
    siblings = regions.kelurahan_of(kelurahan.kecamatan_code)
    index = siblings.index(kelurahan)
    angle = 2 * math.pi * index / len(siblings)
    latitude, longitude = _KECAMATAN_CENTRES[kelurahan.kecamatan_code]
    return (latitude + _KELURAHAN_SPREAD_DEGREES * math.sin(angle),
            longitude + _KELURAHAN_SPREAD_DEGREES * math.cos(angle))


def distance_km(first: str, second: str) -> float:
    """Return the great-circle distance in km between the centroids of two kelurahan (haversine)."""
    lat1, lon1 = (math.radians(value) for value in centroid(first))
    lat2, lon2 = (math.radians(value) for value in centroid(second))
    half_chord = (math.sin((lat2 - lat1) / 2) ** 2
                  + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(half_chord))
