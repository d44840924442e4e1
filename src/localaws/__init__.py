"""localaws: an embedded AWS (moto's server plus a compute plane) for one machine."""
