"""A local stand-in of the Dray Dog camera page and CDN, for tests and demos with no internet."""

from gatecam.sources.draydog.standin.catalogue import Catalogue
from gatecam.sources.draydog.standin.server import FAULT_KINDS, VARIANTS, StandIn
from gatecam.sources.draydog.standin.source import CatalogueSource

__all__ = ["FAULT_KINDS", "VARIANTS", "Catalogue", "CatalogueSource", "StandIn"]
