"""Who is asking: Tidepool's users, and how Caddy and the API learn who a request is from."""
