"""stridegraph: the account service of a self-hosted fitness tracker, as a GraphQL API."""

__version__ = "0.1.0"
