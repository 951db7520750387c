"""The stream role: the /ws gateway (`gateway`), its fan-out (`hub`), one socket (`client`),
the message protocol (`protocol`), and the long-poll fallback /api/updates (`updates`)."""
