"""Writes to the CRM ontology. Every function takes the organization explicitly."""
