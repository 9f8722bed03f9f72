"""Client drops: reading, validating and hashing `client.json` + `portfolio.csv`."""
