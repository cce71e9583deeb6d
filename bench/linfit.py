"""Ordinary least squares for a handful of points, without numpy (normal equations)."""

from __future__ import annotations


def least_squares(rows: list[tuple[float, ...]], values: list[float]) -> list[float]:
    """Coefficients x minimising |A x - values| for the matrix A given by `rows`."""
    width = len(rows[0])
    normal = [[sum(r[i] * r[j] for r in rows) for j in range(width)] for i in range(width)]
    rhs = [sum(r[i] * v for r, v in zip(rows, values, strict=True)) for i in range(width)]
    return _solve(normal, rhs)


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting."""
    n = len(rhs)
    m = [row[:] + [value] for row, value in zip(matrix, rhs, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if abs(m[col][col]) < 1e-12:
            raise ValueError("the points do not determine the fit (vary hosts and instances)")
        for row in range(n):
            if row != col:
                factor = m[row][col] / m[col][col]
                m[row] = [a - factor * b for a, b in zip(m[row], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]
