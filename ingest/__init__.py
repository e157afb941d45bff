"""Input side of slotguard: the booking-event contract (v1), readers, dead letters and the traffic simulator."""
