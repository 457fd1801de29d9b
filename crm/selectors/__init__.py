"""Reads of the CRM ontology. Every function is scoped to one organization."""
