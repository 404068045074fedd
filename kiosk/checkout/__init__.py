"""The terminal's checkout and membership flow: a pure state machine (`flow.step`) and the
service that drives it over the device agent (`service.TerminalCheckout`)."""
