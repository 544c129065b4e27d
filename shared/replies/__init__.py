"""Stage 6, replies: the SMS reply codes a person answers with, parsed and chosen by pure
functions (codes), and their rows in the database (code_store).

May import shared.core.
"""
