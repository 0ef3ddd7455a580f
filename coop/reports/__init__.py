"""The regional reports (SPEC §5): capacity on a day and over time, income and cost avoided,
demand and unmet demand, and a council's SSDA903 episodes export. Read-only: every figure is
computed from the bookings, the beds' history and the ledger, never stored twice."""
