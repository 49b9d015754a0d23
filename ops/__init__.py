"""Operating sendpool from outside the services: the `sendpool` command, the generated documents
(configuration table, OpenAPI, AsyncAPI) and the one registry of services they all read.

It imports the services; the services and `shared/` never import it.
"""
