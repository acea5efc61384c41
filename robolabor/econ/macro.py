"""A sector of establishments that replace human dishwashers by learning robots.

Each month t:

1. the human benchmark is the wage index ``w_h(t)`` (``WageIndex``: an EMA of the
   nominal market wage, ``w_h(t) = α·m(t−1) + (1 − α)·w_h(t−1)``);
2. one robot-hour produces ``MP_r(t)`` good units (a learning curve) of the dish mix
   ``m_k`` with per-type error rates ``e_k``, priced at the sector's prices; its
   ledger, spread, allocation (``s_cust = 1 − s_plat``) and customer price come from
   ``window_ledger``, ``allocate_ledger`` and ``price_windows`` — the same code that
   prices a training run — floored at the platform's cost per billed hour;
3. unit labor costs (``ulc_ratio``): ``ρ_ULC`` on items (``(P/MP_r)/(w_h/MP_h)``) and
   on real output at month-0 prices (``(P/Q_r)/(w_h/Q_h)``);
4. establishment i moves its human share ``u_i`` by ``u_i ← u_i·(1 − h_i)`` with
   hazard ``h_i = speed·σ((1 − ρ_ULC,real − hurdle_i)/temperature)`` (the saving in
   unit labor cost on real output) and ``speed =
   innovation + imitation·(robot output share)`` (Bass-style diffusion);
5. sector real output ``Y = D(p)·Σ_i size_i·p̄_0`` (items valued at month-0 prices of
   the mix) with demand ``D = g(t)·(p/p_0)^(−ε_d)``, human hours ``Y(1 − share)/Q_h``,
   robot hours ``Y·share/Q_r``; unit cost is $ per $ of real output and the real sector
   price index moves by ``pass_through`` times its change since month 0; TFP is output
   per cost-weighted input at month-0 costs;
6. the market wage answers human labor demand: ``m(t) = trend(t)·(rel. demand /
   supply)^(1/η_s)``.

Money is nominal; everything is vectorised over establishments (a million for ten
years in about a second on one core). Scenarios are plain dataclasses whose fields
carry their ranges; the experiments layer validates them with the same schema as run
configs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

from robolabor.econ._checks import EconInputError, as_float_array, save_figure
from robolabor.econ.allocation import allocate_ledger
from robolabor.econ.ledger import window_ledger
from robolabor.econ.output import ulc_ratio
from robolabor.econ.pricing import price_windows
from robolabor.econ.wage_index import WageIndex

__all__ = ["Scenario", "LearningCurve", "fit_learning_curve", "MacroResult", "simulate", "npv",
           "npv_sensitivity", "macro_figure", "market_wage_factor", "without_robots",
           "exposure_effects"]


def _f(default, lo=None, hi=None, lo_open=False, hi_open=False, choices=None, doc=""):
    """A field with a documented range (the same metadata keys as run-config fields)."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "choices": choices,
            "doc": doc}
    if isinstance(default, tuple):
        return dataclasses.field(default_factory=lambda d=default: d, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Scenario:
    """Assumptions of one sector simulation. Rates are annual unless the name says monthly;
    money is nominal $ at month-0 prices. Per-type lists (prices, damage costs, mix,
    error rates, human mix) have one entry per dish type."""

    name: str = _f("baseline")
    n_establishments: int = _f(100_000, 1, 20_000_000)
    months: int = _f(120, 1, 1200)
    # labor market (exogenous)
    initial_human_wage: float = _f(18.0, 0, 1e4, lo_open=True, doc="$/h")
    wage_growth_annual: float = _f(0.03, -0.5, 1.0, doc="trend growth of the nominal market wage")
    inflation_annual: float = _f(0.02, -0.5, 1.0, doc="economy-wide price level growth")
    labor_supply_growth_annual: float = _f(0.0, -0.5, 0.5)
    labor_supply_elasticity: float = _f(1.0, 0, 100, lo_open=True)
    labor_demand_elasticity: float = _f(0.0, -5, 0, doc="wage elasticity of the rest of the "
                                        "local market's labor demand (0: fixed)")
    sector_labor_share: float = _f(0.1, 0, 1, doc="share of the local labor market in this sector")
    employment_rate: float = _f(0.6, 0, 1, lo_open=True,
                                doc="employment-to-population ratio at month 0")
    worker_hours_per_month: float = _f(160.0, 0, 744, lo_open=True)
    robot_hours_per_month: float = _f(730.0, 0, 744, lo_open=True,
                                      doc="hours a robot is available in a month")
    wage_alpha: float = _f(0.1, 0, 1, lo_open=True, doc="EMA weight of a new market observation")
    human_mp: float = _f(60.0, 0, 1e5, lo_open=True, doc="items/h")
    human_mix: tuple[float, ...] = _f((1.0,), 0, 1e6,
                                      doc="item mix of the human benchmark, per type")
    # the robot
    output_prices: tuple[float, ...] = _f((0.30,), 0, 1e4, doc="$ per good unit, per type")
    damage_costs: tuple[float, ...] = _f((1.0,), 0, 1e4, doc="$ per broken unit, per type")
    dish_mix: tuple[float, ...] = _f((1.0,), 0, 1e6, doc="shares of good units, per type")
    error_rates: tuple[float, ...] = _f((0.02,), 0, 0.99, doc="broken / attempted, per type")
    mp_0: float = _f(80.0, 0, 1e5, lo_open=True, doc="default learning curve: units/h at t = 0")
    mp_inf: float = _f(110.0, 0, 1e5, lo_open=True)
    tau_months: float = _f(24.0, 0, 1e4, lo_open=True)
    env_steps_per_month: float = _f(10_000.0, 0, 1e12, lo_open=True,
                                    doc="training steps per month, for curves fitted in steps")
    initial_env_steps: float = _f(0.0, 0, 1e12, doc="training steps behind the month-0 robot")
    pricing_rule: str = _f("split", choices=("split", "capped"))
    s_plat: float = _f(0.65, 0, 1)
    eps_parity: float = _f(0.05, 0, 10)
    robot_operating_cost: float = _f(0.10, 0, 1e4, doc="$ per robot-hour (energy)")
    robot_capex_per_hour: float = _f(8.0, 0, 1e4, doc="amortised hardware, $ per fleet hour")
    # product market
    price_pass_through: float = _f(0.8, 0, 1)
    demand_elasticity: float = _f(0.5, 0, 10)
    demand_growth_annual: float = _f(0.0, -0.5, 1.0)
    # establishments
    mean_monthly_units: float = _f(12_000.0, 0, 1e9, lo_open=True, doc="median establishment")
    size_sigma: float = _f(1.0, 0, 5)
    hurdle_mean: float = _f(0.15, 0, 10, doc="mean unit-cost saving needed to adopt")
    hurdle_sigma: float = _f(0.5, 0, 5)
    hurdle_size_elasticity: float = _f(0.3, 0, 2, doc="large sites amortise adjustment costs")
    adoption_innovation: float = _f(0.01, 0, 1, doc="monthly hazard with no adopters yet")
    adoption_imitation: float = _f(0.15, 0, 10, doc="extra hazard per unit of robot share")
    adoption_temperature: float = _f(0.05, 0, 10, lo_open=True)
    initial_adoption: float = _f(0.0, 0, 1)
    # finance
    discount_rate_annual: float = _f(0.10, 0, 1)
    utilisation: float = _f(0.8, 0, 1, lo_open=True)
    churn_monthly: float = _f(0.01, 0, 1, hi_open=True)
    sens_discount_rates: tuple[float, ...] = _f((0.05, 0.10, 0.15), 0, 1)
    sens_utilisations: tuple[float, ...] = _f((0.6, 0.8, 1.0), 0, 1, lo_open=True)
    sens_churns: tuple[float, ...] = _f((0.0, 0.01, 0.03), 0, 1, hi_open=True)

    @property
    def n_types(self) -> int:
        return len(self.output_prices)

    def check_types(self) -> None:
        """Per-type lists must agree in length (the ranges are the schema's job)."""
        for k in ("damage_costs", "dish_mix", "error_rates", "human_mix"):
            if len(getattr(self, k)) != self.n_types:
                raise EconInputError(f"{k}: expected {self.n_types} per-type values (one per "
                                     f"output price), got {len(getattr(self, k))}")
        if sum(self.dish_mix) <= 0 or sum(self.human_mix) <= 0:
            raise EconInputError("dish_mix, human_mix: need a positive total")

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


# --------------------------------------------------------------------------- learning curve

@dataclass(frozen=True)
class LearningCurve:
    """``mp(x) = mp_inf − (mp_inf − mp_0)·exp(−x/tau)``; x in ``unit`` ('months' or 'env_steps')."""

    mp_0: float
    mp_inf: float
    tau: float
    unit: str = "months"
    rmse: float | None = None
    n_points: int = 0

    def __post_init__(self):
        for k in ("mp_0", "mp_inf", "tau"):
            v = getattr(self, k)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise EconInputError(f"{k}: must be a finite number >= 0, got {v!r}")
        if self.tau <= 0:
            raise EconInputError(f"tau: must be > 0, got {self.tau!r}")
        if self.unit not in ("months", "env_steps"):
            raise EconInputError(f"unit: must be 'months' or 'env_steps', got {self.unit!r}")

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return self.mp_inf - (self.mp_inf - self.mp_0) * np.exp(-x / self.tau)

    def at_months(self, months, env_steps_per_month: float) -> np.ndarray:
        m = np.asarray(months, dtype=float)
        return self(m * env_steps_per_month if self.unit == "env_steps" else m)


def _curve(x, mp_0, mp_inf, tau):
    return mp_inf - (mp_inf - mp_0) * np.exp(-x / tau)


def fit_learning_curve(env_steps, mp) -> LearningCurve:
    """Least-squares fit of the exponential learning curve to checkpoint evaluations.

    env_steps: (n,) training steps >= 0 of each checkpoint; mp: (n,) evaluated MP
    (units/h), e.g. the across-seed mean. Needs at least 3 distinct steps. The fitted
    asymptote lies within the observed MP range widened by a quarter of its width, and the
    time constant within the observed span of steps.
    """
    x = as_float_array("env_steps", env_steps, ndim=(1,))
    y = as_float_array("mp", mp, ndim=(1,))
    if x.shape != y.shape:
        raise EconInputError(f"mp: shape {y.shape} does not match env_steps {x.shape}")
    if (x < 0).any() or (y < 0).any():
        raise EconInputError("env_steps, mp: must be >= 0")
    if np.unique(x).shape[0] < 3:
        raise EconInputError(f"env_steps: need at least 3 distinct checkpoints, got "
                             f"{np.unique(x).shape[0]}")
    order = np.argsort(x)
    x, y = x[order], y[order]
    span = float(x[-1] - x[0]) or 1.0
    margin = 0.25 * float(y.max() - y.min())
    lo, hi = max(0.0, float(y.min()) - margin), float(y.max()) + margin
    hi = hi if hi > lo else lo + 1e-9
    tail = float(np.clip(y[-max(1, len(y) // 5):].mean(), lo, hi))
    p0 = [float(y[0]), tail, span / 3]
    # No extrapolation far past what training showed: the asymptote stays within a
    # quarter of the observed range of it and the time constant inside the observed
    # window (a curve still falling at the last checkpoint is not run down to 0).
    try:
        (m0, minf, tau), _ = curve_fit(_curve, x, y, p0=p0,
                                       bounds=([0, lo, span * 1e-4], [np.inf, hi, span]),
                                       maxfev=10_000)
    except (RuntimeError, ValueError) as exc:
        raise EconInputError(f"mp: the learning curve could not be fitted ({exc})") from None
    rmse = float(np.sqrt(np.mean((_curve(x, m0, minf, tau) - y) ** 2)))
    return LearningCurve(float(m0), float(minf), float(tau), unit="env_steps", rmse=rmse,
                         n_points=int(x.shape[0]))


# --------------------------------------------------------------------------- simulation

_SERIES = ("month", "price_level", "market_wage", "wage_index", "real_wage", "robot_mp",
           "implied_wage", "wage_parity", "robot_price", "rho_ulc_items", "rho_ulc_real",
           "rho_hour", "adoption_share", "robot_output_share", "output", "human_hours",
           "robot_hours", "labor_demand_index", "unit_cost", "sector_price", "tfp",
           "platform_revenue", "platform_cash_flow", "employment_rate", "robots_per_1000_workers",
           "real_market_wage", "labor_productivity")


@dataclass(frozen=True)
class MacroResult:
    """Monthly series, (months,) arrays; money nominal $.

    ``adoption_share``: mean robot share over establishments; ``robot_output_share``:
    output-weighted. ``labor_demand_index``: human hours relative to month 0.
    ``tfp``: output per cost-weighted input (human hours at w_h(0), robot hours at
    month-0 operating + capex cost), 1 at month 0. ``sector_price``: the mix-weighted
    price of a good unit. ``platform_cash_flow``: revenue minus operating cost minus
    capex of a fleet sized for ``utilisation``.
    """

    scenario: Scenario
    seed: int
    learning_curve: LearningCurve
    series: dict
    npv: float
    sensitivity: dict

    def __getattr__(self, name):
        series = self.__dict__.get("series", {})
        if name in series:
            return series[name]
        raise AttributeError(name)

    def to_table(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.series.items()}

    def sensitivity_table(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.sensitivity.items()}


def _monthly(rate_annual: float) -> float:
    return (1.0 + rate_annual) ** (1.0 / 12.0) - 1.0


def market_wage_factor(sigma: float, sector_hours: float, supply: float, eta_s: float,
                       eps_d: float, iterations: int = 6) -> float:
    """Market wage relative to its trend, ``x = m / trend``, clearing the local labor market:
    ``(1 − σ)·x^ε_d + σ·r = s·x^η_s`` with σ the sector's share of employment at month 0,
    r the sector's human hours relative to month 0, s the labor supply relative to month 0,
    ε_d ≤ 0 the rest of the market's labor-demand elasticity and η_s > 0 the supply
    elasticity. With ε_d = 0 this is ``x = ((1 − σ + σr)/s)^(1/η_s)``; otherwise Newton
    steps on ``y = ln x`` from that point (the left side falls and the right rises in y,
    so the root is unique). Employment then moves as ``s·x^η_s``."""
    y = math.log(max(1.0 - sigma + sigma * sector_hours, 1e-12) / supply) / eta_s
    if eps_d == 0.0:
        return math.exp(y)
    for _ in range(iterations):
        a = (1.0 - sigma) * math.exp(eps_d * y)
        d = a + sigma * sector_hours
        f = math.log(d) - math.log(supply) - eta_s * y
        y -= f / (eps_d * a / d - eta_s)
    return math.exp(y)


def without_robots(scenario: Scenario) -> Scenario:
    """The counterfactual of a scenario: the same sector with no establishment adopting."""
    return dataclasses.replace(scenario, adoption_innovation=0.0, adoption_imitation=0.0,
                               initial_adoption=0.0)


def exposure_effects(result: MacroResult, counterfactual: MacroResult) -> dict:
    """The sector's robot effects measured as the empirical literature measures them,
    against the counterfactual without robots, over the whole horizon (a long difference):

    * per additional robot per thousand workers (exposure ``Δx = x_T − x_0``): the change in
      the employment-to-population ratio, ``100·(Δer − Δer^c)/Δx`` percentage points, and in
      the real market wage, ``100·(Δln w − Δln w^c)/Δx`` percent;
    * the robots' contribution to annual labor-productivity growth in the sector (output
      per human hour), ``100·(Δln LP − Δln LP^c)/years`` percentage points a year.
    """
    s, c = result.series, counterfactual.series
    dx = float(s["robots_per_1000_workers"][-1] - s["robots_per_1000_workers"][0])
    if dx <= 1e-9:
        raise EconInputError("result: no robots were added; there is no exposure to measure")
    years = (len(s["month"]) - 1) / 12.0

    def change(series, key, log=False):
        v = np.asarray(series[key], dtype=float)
        return float(np.log(v[-1] / v[0]) if log else v[-1] - v[0])

    return {
        "robots_per_1000_workers_added": dx,
        "employment_rate_pp_per_robot": 100.0 * (change(s, "employment_rate")
                                                 - change(c, "employment_rate")) / dx,
        "wage_pct_per_robot": 100.0 * (change(s, "real_market_wage", True)
                                       - change(c, "real_market_wage", True)) / dx,
        "labor_productivity_growth_pp": 100.0 * (change(s, "labor_productivity", True)
                                                 - change(c, "labor_productivity", True)) / years,
        "years": years,
    }


def robot_hour(sc: Scenario, mp_r: float, price_index: float, level: float, w_h: float):
    """The accounts of one robot-hour in a month: ledger → allocation → price, by the same
    functions that price a training run. Good units ``S_k = MP_r·m_k/Σm``, broken
    ``E_k = S_k·e_k/(1 − e_k)``; output prices ``p_k·index·level``, damage costs
    ``c_k·level``; real output at month-0 prices. Returns (implied wage, customer price
    before the platform's cost floor, good units, real output, human real output)."""
    mix = np.asarray(sc.dish_mix) / sum(sc.dish_mix)
    e = np.asarray(sc.error_rates)
    good = mp_r * mix
    broken = good * e / (1.0 - e)
    p0 = np.asarray(sc.output_prices)
    led = window_ledger(good[None], broken[None], 1.0, p0 * price_index * level,
                        np.asarray(sc.damage_costs) * level, sc.robot_operating_cost * level,
                        w_h, sc.human_mp, base_prices=p0, human_mix=np.asarray(sc.human_mix))
    alloc = allocate_ledger(led, delta_mpl_cust=1.0 - sc.s_plat, delta_mpl_total=1.0,
                            eps_parity=sc.eps_parity)
    priced = price_windows(sc.pricing_rule, led, alloc)
    return (float(led.implied_wage[0]), float(priced.price[0]), float(led.good[0]),
            float(led.real_output[0]), float(led.human_real_output[0]))


def simulate(scenario: Scenario, learning_curve: LearningCurve | None = None,
             seed: int = 0) -> MacroResult:
    """Run the sector for ``scenario.months`` months (module docstring); deterministic given
    ``seed``. The learning curve is read at ``initial_env_steps + month·env_steps_per_month``
    when fitted in env steps."""
    sc = scenario
    if not isinstance(sc, Scenario):
        raise EconInputError(f"scenario: expected a Scenario, got {type(sc).__name__}")
    sc.check_types()
    if learning_curve is None:
        learning_curve = LearningCurve(sc.mp_0, sc.mp_inf, sc.tau_months, unit="months")
    if not isinstance(learning_curve, LearningCurve):
        raise EconInputError(f"learning_curve: expected a LearningCurve, got "
                             f"{type(learning_curve).__name__}")
    rng = np.random.default_rng(seed)
    n, T = sc.n_establishments, sc.months

    # heterogeneous establishments: size (units/month) and adoption hurdle
    size = sc.mean_monthly_units * rng.lognormal(0.0, sc.size_sigma, n)
    hurdle = (sc.hurdle_mean * rng.lognormal(-0.5 * sc.hurdle_sigma**2, sc.hurdle_sigma, n)
              * (size / sc.mean_monthly_units) ** (-sc.hurdle_size_elasticity))
    hurdle_t = hurdle / sc.adoption_temperature  # scaled once, reused every month
    total_size = float(size.sum())
    u = np.full(n, 1.0 - sc.initial_adoption)  # human share of each establishment's work
    buf = np.empty(n)

    months = np.arange(T)
    infl = _monthly(sc.inflation_annual)
    w_trend = sc.initial_human_wage * (1.0 + _monthly(sc.wage_growth_annual)) ** months
    supply = (1.0 + _monthly(sc.labor_supply_growth_annual)) ** months
    demand_trend = (1.0 + _monthly(sc.demand_growth_annual)) ** months
    x = (sc.initial_env_steps + months * sc.env_steps_per_month
         if learning_curve.unit == "env_steps" else months.astype(float))
    mp_r = np.maximum(learning_curve(x), 1e-9)
    p_bar0 = float(np.dot(sc.output_prices, sc.dish_mix) / sum(sc.dish_mix))

    out = {k: np.empty(T) for k in _SERIES}
    wages = WageIndex(sc.initial_human_wage, sc.wage_alpha)
    index = 1.0  # real sector price index, month 0 = 1
    uc_real0 = y_per_x0 = human0 = None
    robot_share = sc.initial_adoption
    cost0 = sc.robot_operating_cost + sc.robot_capex_per_hour
    for t in range(T):
        w_h, level = wages.nominal, wages.price_level
        implied, price, good, real, real_h = robot_hour(sc, mp_r[t], index, level, w_h)
        # the platform does not rent below its own cost per billed hour
        robot_price = max(price, (sc.robot_operating_cost + sc.robot_capex_per_hour
                                  / sc.utilisation) * level)
        rho = float(ulc_ratio(robot_price, good, w_h, sc.human_mp)[0])
        rho_real = float(ulc_ratio(robot_price, real, w_h, real_h)[0])

        # smooth adoption: hazard h_i = speed·σ((saving − hurdle_i)/temperature) with the saving
        # 1 − ρ_ULC on real output (a site pays for dishes, not for item counts), where speed
        # grows with last month's robot share (Bass-style diffusion: firms see others adopt),
        # moves the human share u_i = 1 − a_i by u_i ← u_i·(1 − h_i); in place, no temporaries
        speed = min(1.0, sc.adoption_innovation + sc.adoption_imitation * robot_share)
        np.subtract(hurdle_t, (1.0 - rho_real) / sc.adoption_temperature, out=buf)
        np.exp(np.minimum(buf, 700.0, out=buf), out=buf)
        buf += 1.0
        np.divide(-speed, buf, out=buf)
        buf += 1.0
        u *= buf
        robot_share = 1.0 - float(np.einsum("i,i->", u, size)) / total_size

        # output in real terms ($ at month-0 prices of the robot's mix): a human hour yields
        # Q_h, a robot hour Q_r, so hours follow real output, not item counts
        demand = demand_trend[t] * index ** (-sc.demand_elasticity)
        output = demand * total_size * p_bar0
        robot_hours = output * robot_share / real
        human_hours = output * (1.0 - robot_share) / real_h
        unit_cost = (human_hours * w_h + robot_hours * robot_price) / output
        x_input = sc.initial_human_wage * human_hours + cost0 * robot_hours
        if t == 0:
            uc_real0, human0 = unit_cost / level, max(human_hours, 1e-12)
            y_per_x0 = output / x_input
        revenue = robot_price * robot_hours
        cash = (revenue - sc.robot_operating_cost * level * robot_hours
                - sc.robot_capex_per_hour * level * robot_hours / sc.utilisation)

        row = out
        row["month"][t] = t
        row["price_level"][t] = level
        row["wage_index"][t] = w_h
        row["real_wage"][t] = wages.real
        row["robot_mp"][t] = mp_r[t]
        row["implied_wage"][t] = implied
        row["wage_parity"][t] = implied / w_h
        row["robot_price"][t] = robot_price
        row["rho_ulc_items"][t] = rho
        row["rho_ulc_real"][t] = rho_real
        row["rho_hour"][t] = robot_price / w_h
        row["adoption_share"][t] = 1.0 - float(u.mean())
        row["robot_output_share"][t] = robot_share
        row["output"][t] = output
        row["human_hours"][t] = human_hours
        row["robot_hours"][t] = robot_hours
        row["labor_demand_index"][t] = human_hours / human0
        row["unit_cost"][t] = unit_cost
        row["sector_price"][t] = p_bar0 * index * level
        row["tfp"][t] = (output / x_input) / y_per_x0
        row["platform_revenue"][t] = revenue
        row["platform_cash_flow"][t] = cash

        # feedback: pass-through of real unit-cost changes; the wage answers labor demand
        index = max(1e-9, 1.0 + sc.price_pass_through * (unit_cost / level - uc_real0))
        x = market_wage_factor(sc.sector_labor_share, human_hours / human0, supply[t],
                               sc.labor_supply_elasticity, sc.labor_demand_elasticity)
        market = w_trend[t] * x
        out["market_wage"][t] = market
        out["real_market_wage"][t] = market / level
        out["employment_rate"][t] = sc.employment_rate * x ** sc.labor_supply_elasticity
        workers0 = human0 / sc.worker_hours_per_month / max(sc.sector_labor_share, 1e-12)
        robots = robot_hours / (sc.robot_hours_per_month * sc.utilisation)
        out["robots_per_1000_workers"][t] = 1000.0 * robots / workers0
        out["labor_productivity"][t] = output / max(human_hours, 1e-12)
        wages.update(market, infl)

    series = {k: v for k, v in out.items()}
    series["month"] = months
    base_npv = npv(series, sc.discount_rate_annual, sc.utilisation, sc.churn_monthly, sc)
    sens = npv_sensitivity(series, sc, sc.sens_discount_rates, sc.sens_utilisations,
                           sc.sens_churns)
    return MacroResult(scenario=sc, seed=int(seed), learning_curve=learning_curve, series=series,
                       npv=base_npv, sensitivity=sens)


def _cash(series, utilisation: float, sc: Scenario) -> np.ndarray:
    lv, hrs = series["price_level"], series["robot_hours"]
    return (series["platform_revenue"] - sc.robot_operating_cost * lv * hrs
            - sc.robot_capex_per_hour * lv * hrs / utilisation)


def npv(series, discount_rate_annual: float, utilisation: float, churn_monthly: float,
        scenario: Scenario) -> float:
    """NPV of the platform's robot-backed cash flows over the simulated horizon.

    Month-t cash flow (end of month) is discounted at the annual rate and scaled
    by the retention ``(1 − churn)^t`` of contracts signed on the simulated path.
    """
    for name, v, lo, hi in (("discount_rate_annual", discount_rate_annual, 0, 1),
                            ("utilisation", utilisation, 1e-12, 1),
                            ("churn_monthly", churn_monthly, 0, 1 - 1e-12)):
        if not (isinstance(v, int | float) and lo <= v <= hi):
            raise EconInputError(f"{name}: must lie in [{lo}, {hi}], got {v!r}")
    t = np.asarray(series["month"], dtype=float)
    disc = (1.0 + discount_rate_annual) ** (-(t + 1.0) / 12.0)
    return float((_cash(series, utilisation, scenario) * (1.0 - churn_monthly) ** t * disc).sum())


def npv_sensitivity(series, scenario: Scenario, discount_rates, utilisations,
                    churns) -> dict[str, np.ndarray]:
    """NPV over the full grid of (discount rate, utilisation, churn); long-format columns."""
    if not (len(discount_rates) and len(utilisations) and len(churns)):
        raise EconInputError("sens_*: every sensitivity list needs at least one value")
    rows = [(r, u, c, npv(series, r, u, c, scenario))
            for r in discount_rates for u in utilisations for c in churns]
    cols = np.array(rows, dtype=float).reshape(-1, 4)
    return {"discount_rate_annual": cols[:, 0], "utilisation": cols[:, 1],
            "churn_monthly": cols[:, 2], "npv": cols[:, 3]}


def macro_figure(result: MacroResult, path) -> Path:
    """Adoption S-curve, wages, ρ, price index and TFP (plus platform cash flow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, m = result.series, result.series["month"]
    fig, ax = plt.subplots(2, 3, figsize=(14, 7.5))
    ax[0, 0].plot(m, s["adoption_share"], label="establishments")
    ax[0, 0].plot(m, s["robot_output_share"], label="output-weighted")
    ax[0, 0].set(title="Robot adoption", ylabel="share", ylim=(0, 1))
    ax[0, 1].plot(m, s["wage_index"], label="w_h index (nominal)")
    ax[0, 1].plot(m, s["market_wage"], lw=0.8, label="market wage (nominal)")
    ax[0, 1].plot(m, s["real_wage"], label="w_h real (month-0 $)")
    ax[0, 1].set(title="Human wage", ylabel="$/h")
    ax[0, 2].plot(m, s["rho_ulc_real"], label="ρ_ULC, real output")
    ax[0, 2].plot(m, s["rho_ulc_items"], lw=0.8, label="ρ_ULC, item count")
    ax[0, 2].plot(m, s["rho_hour"], label="ρ_hour")
    ax[0, 2].axhline(1, color="k", lw=0.5)
    ax[0, 2].set(title="Robot vs human cost", ylabel="ratio")
    ax[1, 0].plot(m, s["sector_price"] / s["sector_price"][0], label="sector price")
    ax[1, 0].plot(m, s["price_level"], label="general price level")
    ax[1, 0].set(title="Price index (month 0 = 1)")
    ax[1, 1].plot(m, s["tfp"], label="TFP")
    ax[1, 1].plot(m, s["labor_demand_index"], label="human labor demand")
    ax[1, 1].set(title="TFP and labor demand (month 0 = 1)")
    ax[1, 2].plot(m, s["platform_cash_flow"] / 1e6)
    ax[1, 2].set(title=f"Platform cash flow, NPV ${result.npv / 1e6:,.2f}M", ylabel="$M / month")
    for a in ax.ravel():
        a.set_xlabel("month")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    fig.suptitle(f"Scenario {result.scenario.name!r}, seed {result.seed}")
    return save_figure(fig, path)
