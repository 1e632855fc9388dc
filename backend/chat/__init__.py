"""Conversations between a customer and a representative: requests, accept, messages,
transfer, end, transcripts. Both sides get every change through the push hub."""
