//! How a device is made: its clock, action and timers, and the level of its log messages.

/// What measures a vCPU's time (`enum vmwdt_clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum Clock {
    /// The host's `guest_time_ns` when it gives one; otherwise the vCPU thread's CPU time once
    /// the thread is named ([`Vmwdt::set_vcpu_thread`](crate::Vmwdt::set_vcpu_thread)), host
    /// time before that.
    #[default]
    Auto = 0,
    /// Field 43 (guest_time) of `/proc/<pid>/task/<tid>/stat`: crosvm's semantics.
    GuestTime = 1,
    /// The vCPU thread's CPU time.
    ThreadCpu = 2,
    /// Host time (`now_ns`, or CLOCK_MONOTONIC without it).
    Monotonic = 3,
    /// The `guest_time_ns` callback (required with this clock).
    Host = 4,
}

impl Clock {
    /// The clock of a C value, `None` for a value this crate does not know.
    pub fn from_raw(value: u32) -> Option<Clock> {
        [
            Clock::Auto,
            Clock::GuestTime,
            Clock::ThreadCpu,
            Clock::Monotonic,
            Clock::Host,
        ]
        .get(value as usize)
        .copied()
    }
}

/// What a whole window without a pet does (`enum vmwdt_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum Action {
    /// Interrupt, then after a second window a reset request (crosvm's behaviour).
    #[default]
    IrqThenReset = 0,
    /// One interrupt per stall.
    IrqOnly = 1,
    /// A reset request at once, no interrupt.
    Reset = 2,
    /// Logged only.
    None = 3,
}

impl Action {
    /// The action of a C value, `None` for a value this crate does not know.
    pub fn from_raw(value: u32) -> Option<Action> {
        [
            Action::IrqThenReset,
            Action::IrqOnly,
            Action::Reset,
            Action::None,
        ]
        .get(value as usize)
        .copied()
    }
}

/// Who runs the timers (`enum vmwdt_timers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum Timers {
    /// The library's own worker thread.
    #[default]
    Thread = 0,
    /// The host calls [`Vmwdt::run_due`](crate::Vmwdt::run_due) at
    /// [`Vmwdt::next_deadline_ns`](crate::Vmwdt::next_deadline_ns).
    External = 1,
}

/// How a device is made (`struct vmwdt_config`).
///
/// Later versions may add fields, so a `Config` is made with [`Config::new`] (or
/// [`Config::default`], one vCPU) and the `with_*` methods, not with a struct expression:
///
/// ```
/// use vmwdt::{Action, Clock, Config};
/// let config = Config::new(4).with_clock(Clock::Monotonic).with_action(Action::IrqOnly);
/// assert_eq!(config.cpu_count, 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Config {
    /// The number of vCPUs, 1 ..= [`MAX_CPUS`](crate::MAX_CPUS).
    pub cpu_count: u32,
    /// What measures each vCPU's time.
    pub clock: Clock,
    /// What a whole window without a pet does.
    pub action: Action,
    /// Who runs the timers.
    pub timers: Timers,
}

impl Default for Config {
    /// One vCPU, [`Clock::Auto`], [`Action::IrqThenReset`], [`Timers::Thread`].
    fn default() -> Self {
        Config::new(1)
    }
}

impl Config {
    /// A configuration of `cpu_count` vCPUs with the default clock, action and timers.
    pub fn new(cpu_count: u32) -> Config {
        Config {
            cpu_count,
            clock: Clock::default(),
            action: Action::default(),
            timers: Timers::default(),
        }
    }

    /// The same configuration with `cpu_count` vCPUs.
    pub fn with_cpu_count(mut self, cpu_count: u32) -> Config {
        self.cpu_count = cpu_count;
        self
    }

    /// The same configuration with another clock.
    pub fn with_clock(mut self, clock: Clock) -> Config {
        self.clock = clock;
        self
    }

    /// The same configuration with another action.
    pub fn with_action(mut self, action: Action) -> Config {
        self.action = action;
        self
    }

    /// The same configuration with other timers.
    pub fn with_timers(mut self, timers: Timers) -> Config {
        self.timers = timers;
        self
    }
}

/// The level of a message the plugin logs (syslog's levels, most severe first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum LogLevel {
    /// The system is unusable (`LOG_EMERG`).
    Emerg = 0,
    /// Action must be taken at once (`LOG_ALERT`).
    Alert = 1,
    /// A critical condition (`LOG_CRIT`).
    Crit = 2,
    /// An error (`LOG_ERR`): a failed clock, a reset request.
    Err = 3,
    /// A warning (`LOG_WARNING`): a refused guest access, a stall.
    Warning = 4,
    /// A normal but significant condition (`LOG_NOTICE`): a clock fallback.
    Notice = 5,
    /// Information (`LOG_INFO`).
    Info = 6,
    /// Debugging detail (`LOG_DEBUG`).
    Debug = 7,
}

impl LogLevel {
    /// The level of a syslog value; a value outside 0..=7 is clamped to the nearest level, so
    /// that a message is never lost to a plugin's odd level.
    pub fn from_syslog(level: i32) -> LogLevel {
        const ALL: [LogLevel; 8] = [
            LogLevel::Emerg,
            LogLevel::Alert,
            LogLevel::Crit,
            LogLevel::Err,
            LogLevel::Warning,
            LogLevel::Notice,
            LogLevel::Info,
            LogLevel::Debug,
        ];
        ALL[level.clamp(0, 7) as usize]
    }

    /// The syslog value of the level.
    pub fn as_syslog(self) -> i32 {
        self as i32
    }
}
