"""Nagios/Icinga checks for the non-interactive sign-ins of a Microsoft Entra ID tenant."""

__version__ = "0.1.0"
