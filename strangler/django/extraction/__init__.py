"""The extraction engine of the kit: moving one bounded context's rows between two stores while both
may write (conflict policy, recorded conflicts)."""
