"""The rules of the account service: accounts, sessions, tokens, MFA, mail, photos, settings.

Between ``graph`` (GraphQL) and ``db`` (persistence). Nothing here imports Strawberry. Domain
functions take a :class:`~stridegraph.domain.unit.Unit` first and keyword-only arguments after;
they raise :class:`~stridegraph.domain.errors.DomainError` with typed codes. The request owns the
transaction: the caller commits or rolls back.
"""
