"""What an instance's sizes mean for its runs: memory, CPUs and scratch disk."""

import os
from dataclasses import dataclass

from django.conf import settings

from apps.core.text import human_bytes


@dataclass(frozen=True)
class Limits:
    ram_size: str
    cpu_size: str
    disk_size: str
    memory_bytes: int
    cpus: int
    disk_bytes: int

    @classmethod
    def for_instance(cls, instance) -> "Limits":
        table = settings.RESOURCE_LIMITS
        return cls(
            ram_size=instance.ram_size,
            cpu_size=instance.cpu_size,
            disk_size=instance.disk_size,
            memory_bytes=table["ram_size"][instance.ram_size],
            cpus=table["cpu_size"][instance.cpu_size],
            disk_bytes=table["disk_size"][instance.disk_size],
        )

    def memory_exceeded(self) -> str:
        return f"memory limit {self.ram_size} = {human_bytes(self.memory_bytes)} exceeded"

    def disk_exceeded(self) -> str:
        return f"disk limit {self.disk_size} = {human_bytes(self.disk_bytes)} exceeded"

    def cpu_set(self, spread_by: int) -> set[int]:
        """`cpus` of the worker's CPUs, rotated by `spread_by` so concurrent runs share
        the machine rather than all landing on its first CPUs."""
        available = sorted(os.sched_getaffinity(0))
        count = min(self.cpus, len(available))
        start = spread_by % len(available)
        return {available[(start + i) % len(available)] for i in range(count)}
