"""Local stand-ins for Mailchimp and the shop APIs, and the generated shop they serve."""
