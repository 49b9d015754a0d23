"""Every use case the catalog offers, wired once per process and shared by its HTTP API and its RPC queue."""

from dataclasses import dataclass

from services.catalog.app.identity_verification import IdentityVerifier
from services.catalog.app.policies import Policies
from services.catalog.app.queries import CatalogQueries
from services.catalog.app.reputation import Reputations
from services.catalog.app.servers import Servers
from services.catalog.app.tenancy import Tenancy
from services.catalog.app.tokens import Tokens
from services.catalog.app.views import ServerViews
from services.catalog.domain.server_types import ServerTypeRegistry


@dataclass(frozen=True)
class CatalogUseCases:
    tenancy: Tenancy
    tokens: Tokens
    servers: Servers
    identities: IdentityVerifier
    policies: Policies
    queries: CatalogQueries
    views: ServerViews
    reputations: Reputations
    server_types: ServerTypeRegistry
