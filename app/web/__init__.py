"""The web role: the Dash application factory (`factory`), sign-in (`auth`), what every
request passes first (`security`), and the probes (`health`)."""
