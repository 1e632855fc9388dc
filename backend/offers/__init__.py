"""Offers: who may be offered help, when, and for how long (policy), and the atomic
reservation of representatives' slots in Redis (broker)."""
