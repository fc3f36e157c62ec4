"""The GraphQL layer: types, resolvers, permission classes and DataLoaders.

Resolvers are thin: parse input, call one domain function, map the result or its errors.
"""
