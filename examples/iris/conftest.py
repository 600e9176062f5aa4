"""The Iris example's tests read the exports named on the command line (see README.md)."""
