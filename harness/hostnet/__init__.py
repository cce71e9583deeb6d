"""Host-level network pieces the local substrate provides: Open vSwitch, the fan, tool stand-ins.

Nothing here knows about checks or scenario files: functions take plain values (namespace
names, folders, addresses) and run commands through `harness.shell`.
"""
