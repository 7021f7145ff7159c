"""Views and management for admins and billers: stock, mappings, recall, reports.

``repository`` and ``mapping_repository`` own every SQL statement; ``domain``,
``formatting``, ``charts`` and ``documents`` are pure; ``service`` and ``mappings``
compose them inside (read-only) transactions.
"""
