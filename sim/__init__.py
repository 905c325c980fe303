"""A headless stand-in for the Udacity simulator.

It renders the simulator's three camera views of JSON-described tracks (`sim.render`), moves a
kinematic car (`sim.vehicle`), records laps driven by a scripted expert in the simulator's exact log
format (`python -m sim.record`), and drives tracks through a drive server over the simulator's wire
protocol, scoring the run the way NVIDIA scored theirs (`python -m sim.drive`).
"""
