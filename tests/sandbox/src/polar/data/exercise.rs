//! Synthetic exercises: a weekday runner's planned runs, and an exercise on about 40 % of
//! other days, as `/v3/exercises` lists them.
//!
//! Invariant: an exercise's id, upload time and details derive from (person, day, start), so
//! it answers the same whenever it is listed.

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};

use super::{device_id, iso_duration, local_time, round_to, utc_millis};
use crate::civil_time::{from_local, utc_offset_secs};
use crate::polar::wire::{Exercise, HeartRate};
use crate::polar::PolarUser;
use crate::synthetic::Seed;

/// A sport of the synthetic exercises: Polar's sport name, kcal per minute, heart rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Sport {
    pub(super) name: &'static str,
    kcal_per_minute: f64,
    average_hr: u64,
    /// Steps per minute (0: no steps); metres per minute.
    cadence: u64,
    metres_per_minute: f64,
}

pub(super) const RUNNING: Sport = Sport {
    name: "RUNNING",
    kcal_per_minute: 11.0,
    average_hr: 148,
    cadence: 162,
    metres_per_minute: 170.0,
};
const USUAL_SPORTS: [Sport; 4] = [
    RUNNING,
    Sport {
        name: "CYCLING",
        kcal_per_minute: 8.0,
        average_hr: 132,
        cadence: 0,
        metres_per_minute: 380.0,
    },
    Sport {
        name: "WALKING",
        kcal_per_minute: 4.5,
        average_hr: 104,
        cadence: 110,
        metres_per_minute: 85.0,
    },
    Sport {
        name: "STRENGTH_TRAINING",
        kcal_per_minute: 6.0,
        average_hr: 118,
        cadence: 0,
        metres_per_minute: 0.0,
    },
];

/// One exercise of a day, in local time.
#[derive(Clone, Debug, PartialEq)]
pub(in crate::polar) struct Workout {
    pub(super) sport: Sport,
    pub(in crate::polar) day: Date,
    /// Minutes after local midnight.
    pub(in crate::polar) start_minute: u32,
    pub(in crate::polar) minutes: u32,
    pub(in crate::polar) steps: u64,
    pub(in crate::polar) metres: f64,
    pub(in crate::polar) id: String,
}

impl Workout {
    pub(super) fn local(&self, minute: u32) -> PrimitiveDateTime {
        self.day.midnight() + Duration::minutes(i64::from(minute))
    }

    pub(in crate::polar) fn end(&self, user: &PolarUser) -> OffsetDateTime {
        from_local(&user.timezone, self.local(self.start_minute + self.minutes))
    }

    /// When the exercise reached AccessLink: a few minutes after it ended.
    pub(in crate::polar) fn upload_time(&self, user: &PolarUser) -> OffsetDateTime {
        let mut r = Seed::new(&[&self.id, "upload"]);
        self.end(user) + Duration::minutes(r.range(3, 9) as i64)
    }

    pub(super) fn calories(&self) -> u64 {
        (f64::from(self.minutes) * self.sport.kcal_per_minute).round() as u64
    }
}

pub(in crate::polar) fn workout(
    user: &PolarUser,
    day: Date,
    sport: Sport,
    start_minute: u32,
    minutes: u32,
) -> Workout {
    let mut r = Seed::new(&[
        &user.polar_user_id,
        &day.to_string(),
        &start_minute.to_string(),
        "polar-exercise",
    ]);
    Workout {
        sport,
        day,
        start_minute,
        minutes,
        steps: u64::from(minutes) * sport.cadence,
        metres: round_to(f64::from(minutes) * sport.metres_per_minute, 1),
        id: format!("{:07X}", r.next() & 0x0FFF_FFFF),
    }
}

/// An exercise on about 40 % of ordinary days, in the morning or the evening.
pub(super) fn usual_workouts(user: &PolarUser, day: Date) -> Vec<Workout> {
    let mut r = Seed::new(&[&user.polar_user_id, &day.to_string(), "polar-workouts"]);
    if r.range(0, 99) >= 40 {
        return Vec::new();
    }
    let sport = USUAL_SPORTS[r.range(0, 3) as usize];
    let start_minute = if r.range(0, 1) == 0 {
        6 * 60 + 30 + r.range(0, 12) as u32 * 5
    } else {
        17 * 60 + r.range(0, 18) as u32 * 5
    };
    vec![workout(
        user,
        day,
        sport,
        start_minute,
        r.range(25, 75) as u32,
    )]
}

/// An exercise as `/v3/exercises` lists it.
pub(in crate::polar) fn exercise(user: &PolarUser, w: &Workout, user_link: &str) -> Exercise {
    let mut r = Seed::new(&[&w.id, "exercise-details"]);
    let start = from_local(&user.timezone, w.local(w.start_minute));
    let average = w.sport.average_hr + r.range(0, 12);
    Exercise {
        id: w.id.clone(),
        upload_time: utc_millis(w.upload_time(user)),
        polar_user: user_link.to_owned(),
        device: "Polar Pacer Pro".to_owned(),
        device_id: device_id(user),
        start_time: local_time(w.local(w.start_minute)),
        start_time_utc_offset: (utc_offset_secs(&user.timezone, start) / 60) as i32,
        duration: iso_duration(u64::from(w.minutes) * 60 + r.range(0, 59)),
        calories: u32::try_from(w.calories()).unwrap_or(u32::MAX),
        distance: w.metres,
        heart_rate: HeartRate {
            average: average as u32,
            maximum: (average + r.range(12, 30)) as u32,
        },
        training_load: round_to(f64::from(w.minutes) * (average as f64 / 90.0), 2),
        sport: w.sport.name.to_owned(),
        has_route: false,
        club_id: None,
        club_name: None,
        detailed_sport_info: w.sport.name.to_owned(),
        fat_percentage: None,
        carbohydrate_percentage: None,
        protein_percentage: None,
        running_index: (w.sport == RUNNING).then(|| r.range(45, 58) as u32),
        heart_rate_zones: None,
        samples: None,
        route: None,
        training_load_pro: None,
    }
}
