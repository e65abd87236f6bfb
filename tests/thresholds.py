"""Every quality threshold of the test suite, in one table (see DESIGN.md).

Each entry was set a little under what was measured on ../shared/datasets with the fixed noise
seeds the tests use; the measured figures are in the comments and in the issue notes.
Never loosen a value to make a test pass: find out what regressed.
"""

ALL_THRESHOLDS = {
    # tests/quality/test_noise.py
    # Set12 01-07 (256 x 256) plus unclipped white Gaussian noise, seed 100*sigma + index; errors in 0-255 units.
    # Measured (error = estimate - true sigma):
    #   sigma  5: max |err| 1.72, mean err +1.18; max |ours - skimage| 0.12
    #   sigma 15: max |err| 1.50, mean err +0.85; max |ours - skimage| 0.63
    #   sigma 25: max |err| 1.02, mean err +0.62; max |ours - skimage| 0.82
    #   sigma 50: max |err| 1.07, mean err +0.53; max |ours - skimage| 0.80
    # (the positive bias at low sigma is image texture leaking into the finest band; skimage has the same.)
    "noise_estimate": {
        "noise_estimate_abs_err_per_image": {5: 2.0, 15: 1.8, 25: 1.3, 50: 1.4},
        "noise_estimate_abs_err_mean": {5: 1.4, 15: 1.1, 25: 0.9, 50: 0.8},
        "noise_estimate_vs_skimage_abs": 1.0,
    },
    # tests/quality/test_estimate_noise_op.py
    # Set12 images 01-07 (256 x 256), noise sigma 25 (0-255), seeds 0-6, noisy images clipped to [0, 1].
    # Measured: per-image |estimate - 25| <= 0.78, |mean - 25| = 0.07 (tolerances are errors, so set above).
    "estimate_noise_op": {
        "estimate_noise_sigma25_abs_err_per_image": 1.2,
        "estimate_noise_sigma25_abs_err_mean": 0.5,
    },
    # tests/quality/test_metrics.py
    # Measured agreement with scikit-image 0.26 (float64 there, float32 here): |d SSIM| < 2e-6, |d PSNR| < 1e-4 dB.
    "metrics": {
        "ssim_vs_skimage_abs": 1e-4,
        "psnr_vs_skimage_db": 1e-3,
    },
    # tests/enhance/test_clahe.py
    # Agreement with cv2.createCLAHE(clipLimit=2, tileGridSize=(8, 8)).apply on 8-bit Set12 images,
    # our output rounded to 8 bits. Measured (OpenCV 5.0): mean |d| 0.25-0.55 grey levels, max 3.
    # Bounds are a little above what was measured.
    "clahe": {
        "clahe_vs_opencv_mean_grey": 0.7,
        "clahe_vs_opencv_max_grey": 4,
    },
    # tests/denoise/test_wavelet.py
    # Quality thresholds (PSNR dB, Set12 images 01-07 at 256x256, sigma 25, noise seeds 0..6, noisy input clipped
    # to [0, 1] and fed to both implementations). Measured values in the comments; thresholds set a little under.
    "wavelet": {
        # ours BayesShrink (auto sigma, soft, decimated, db4) minus scikit-image BayesShrink (db4, soft, rescale_sigma)
        "wavelet/bayes_dec_db4_minus_skimage_mean": 0.10,  # measured +0.145 (26.528 vs 26.383)
        "wavelet/bayes_dec_db4_minus_skimage_min_image": -0.10,  # measured -0.03 (image 04)
        # best configurations minus scikit-image BayesShrink db4 (mean)
        "wavelet/default_minus_skimage_mean": 1.95,  # measured +2.127 (SureShrink, garrote, stationary, bior1.3: 28.510)
        "wavelet/bayes_stationary_minus_skimage_mean": 1.25,  # measured +1.424 (27.807)
        "wavelet/bayes_cycle_spin_minus_skimage_mean": 1.25,  # measured +1.426 (27.809)
        # gain over the noisy input (20.387 dB), mean and every image
        "wavelet/visu_soft_decimated_gain_mean": 3.6,  # measured +3.835 (24.222)
        "wavelet/visu_hard_stationary_gain_mean": 6.7,  # measured +6.915 (27.302)
        "wavelet/sure_soft_decimated_gain_mean": 5.6,  # measured +5.818 (26.205)
        "wavelet/sure_soft_stationary_gain_mean": 7.5,  # measured +7.703 (28.090)
        "wavelet/any_gain_min_image": 2.5,  # smallest measured: VisuShrink soft decimated on 06, +2.77
        # colour (Set3C, sigma 25): YCbCr minus per-channel RGB, mean of the 3 images; measured +1.557
        "wavelet/set3c_ycbcr_minus_per_channel_mean": 1.3,
        "wavelet/set3c_default_psnr_mean": 28.0,  # measured 28.29
    },
    # tests/denoise/test_nlm.py
    # Mean PSNR (dB) on fixed-seed noise, set a little under what was measured (measured value in the
    # comment, CPU, torch 2.14, scikit-image 0.26). "set12_256" = Set12 images 01-04 (256x256);
    # "cbsd68_crop" = the central 128x128 crops of the first 2 CBSD68 images. "*_min_gain" = how much
    # ours must beat scikit-image's fast NLM with the settings its documentation recommends.
    # "equal_*": ours vs scikit-image at the same nominal settings (and at matched effective h, see
    # test_quality_equal_settings_match_skimage), on the interior of 3 Set12 128x128 crops at sigma 25.
    "nlm": {
        "nlm_set12_256_sigma15_psnr": 31.6,  # measured 31.73
        "nlm_set12_256_sigma25_psnr": 28.8,  # measured 28.94
        "nlm_set12_256_sigma15_min_gain": 0.05,  # ours - skimage measured +0.18
        "nlm_set12_256_sigma25_min_gain": 0.0,  # ours - skimage measured +0.12
        "nlm_cbsd68_crop_sigma25_psnr": 26.1,  # measured 26.28
        "nlm_cbsd68_crop_sigma25_min_gain": 1.0,  # ours - skimage measured +1.31
        "nlm_equal_settings_max_abs_psnr_diff": 0.5,  # measured +0.29 (ours better)
        "nlm_equal_settings_max_rel_diff": 0.15,  # mean|ours - sk| / mean|noisy - sk| measured 0.109
        "nlm_matched_h_max_abs_psnr_diff": 0.15,  # measured +0.01
        "nlm_matched_h_max_rel_diff": 0.12,  # measured 0.092
    },
    # tests/deblur/test_richardson_lucy.py
    # Quality protocol: Set12 image (gray, 256x256) blurred by a Levin et al. kernel with
    # scipy.ndimage.convolve(mode="reflect") (a non-circular boundary), plus Gaussian noise of
    # sigma 2.55/255 (seed = kernel index), clipped to [0, 1]. PSNR on the full frame, 8-bit.
    # Measured (ours: all defaults = 100 iterations, automatic TV, unseen edges, Wiener start;
    # skimage: restoration.richardson_lucy, best num_iter in 1, 2, 5, 10, 20, 30, 50, 100):
    #   01/k0 28.41 vs 20.91 | 01/k3 27.90 vs 17.09 | 01/k6 28.63 vs 18.40
    #   05/k0 29.48 vs 18.93 | 05/k3 27.30 vs 15.44 | 05/k6 29.11 vs 16.50
    # scikit-image convolves with zero padding, so its borders darken and ring: on the full frame its
    # best is 1-2 iterations, about the blurred input. Our plain RL (no TV, 30 iterations, no
    # acceleration, observed start, unseen edges): 25.83 24.52 26.73 | 24.22 22.04 23.78.
    "richardson_lucy": {
        "rl_psnr": {("01", 0): 28.1, ("01", 3): 27.6, ("01", 6): 28.3, ("05", 0): 29.2, ("05", 3): 27.0, ("05", 6): 28.8},
        "rl_gain_over_blurred_db": 6.5,  # measured 6.9 .. 13.6 dB
        "rl_margin_over_skimage_db": 7.0,  # measured 7.5 .. 12.6 dB
        "rl_plain_gain_over_blurred_db": 4.0,  # plain RL; measured 4.3 .. 8.3 dB
        "rl_plain_margin_over_skimage_db": 4.5,  # measured 4.9 .. 8.3 dB
        "rl_unseen_over_periodic_db": 5.0,  # edge handling, 01/k3, defaults: measured 27.90 vs 21.52 (replicate 27.57)
        "rl_mean_shift_natural": 2e-3,  # [0, 1] units, full frame, measured up to 8.3e-4
        "rl_flat_mean_abs": 1e-5,
    },
    # tests/deblur/test_wiener.py
    # Quality protocol: Set12 image (gray, 256x256) blurred by a Levin et al. kernel with
    # scipy.ndimage.convolve(mode="reflect") (a non-circular boundary), plus Gaussian noise of
    # sigma 2.55/255 (seed = kernel index), clipped to [0, 1]. PSNR on the full frame, 8-bit.
    # Measured (ours: mode auto, all defaults; skimage: restoration.wiener, best balance over
    # 10^-4 .. 10^0 in quarter decades):
    #   01/k0 27.00 vs 22.95 | 01/k3 25.96 vs 20.52 | 01/k6 27.72 vs 22.34
    #   05/k0 26.68 vs 23.16 | 05/k3 23.66 vs 19.28 | 05/k6 26.44 vs 20.96
    "wiener": {
        "wiener_psnr": {
            ("01", 0): 26.7,
            ("01", 3): 25.6,
            ("01", 6): 27.4,
            ("05", 0): 26.4,
            ("05", 3): 23.4,
            ("05", 6): 26.1,
        },
        "wiener_gain_over_blurred_db": 5.0,  # measured 5.5 .. 10.9 dB
        "wiener_margin_over_skimage_db": 3.0,  # measured 3.5 .. 5.5 dB
        "wiener_dc_gain_abs": 1e-5,
        "wiener_mean_shift_natural": 2.5e-3,  # measured up to 1.6e-3 ([0, 1] units) on the full frame
    },
    # tests/deblur/test_bm3d_deblur.py
    # Set12 crops 96x96 at (64, 64) of images 01 and 07, Levin kernels 3 and 5 (15x15, 13x13), sigma 2.55, all
    # settings automatic. Measured (PSNR dB, restorekit backend, CPU): 01/k3 26.99, 01/k5 28.00, 07/k3 26.90,
    # 07/k5 27.60; Richardson–Lucy 24.52 / 25.74 / 24.98 / 26.44; Wiener 24.25 / 25.08 / 24.27 / 25.43.
    "bm3d_deblur": {
        "bm3d_deblur_over_rl_mean_db": 1.6,  # measured 1.95
        "bm3d_deblur_over_rl_min_db": 0.8,  # measured 1.16
        "bm3d_deblur_over_wiener_min_db": 1.8,  # measured 2.17
        "bm3d_deblur_psnr_mean_db": 27.0,  # measured 27.37
    },
    # tests/denoise/test_auto.py
    # Measured with prefer="fast" on Set12 01 and 05, crops [64:192, 64:192], seeds below (PSNR noisy -> result):
    #   white 25: wavelet, 21.16/20.31 -> 26.49/26.10 (+5.3/+5.8); Poisson-Gaussian (std 25 at mid grey): wavelet in
    #   the Anscombe domain, 22.18/20.84 -> 26.42/26.19 (+4.2/+5.4); correlated (std 20, 1 px filter): NLM,
    #   23.01/22.05 -> 25.89/24.58 (+2.9/+2.5); JPEG q20: NLM, 26.16/27.05 -> 26.93/28.43 (+0.8/+1.4).
    "auto_denoise": {
        "gain_db": {"gaussian": 4.8, "poisson_gaussian": 4.0, "correlated": 2.0, "jpeg": 0.5},
    },
    # tests/denoise/test_autotune.py
    # Measured on Set12 01, 02, 05 crops [64:192, 64:192], sigma 25 (seed 1), clipped; PSNR of the chosen
    # setting vs the best setting of the same grid (oracle, by PSNR against the clean image):
    #   wavelet, Noise2Self: 0.00 / 0.00 / 0.00 dB below the oracle (0.18 on crop 03, not used here);
    #   nlm, SURE (coarse grid, 01 and 02): 0.00 / 0.14 dB. Set12 04 whole, sigma 25, wavelet, SURE: 0.40 dB with
    #   seed 2 (0.49 with seed 3; 02 whole: 0.00) - per image it varies (clipped noise is not quite Gaussian);
    #   bench mean over Set12 01-04 at sigma 15/25/50: <= 0.07 dB.
    #   with sigma given at 12 (true 25), Noise2Self: wavelet chosen 26.3-30.2 dB vs default (scale 1) 20.7-22.0 dB,
    #   oracle gap <= 0.55 dB; nlm chosen 25.3-29.0 dB vs default 21.6-23.0 dB.
    "autotune": {
        "wavelet_oracle_gap_db_sure": 0.5,
        "wavelet_oracle_gap_db_noise2self": 0.3,
        "nlm_oracle_gap_db_sure": 0.25,
        "wavelet_wrong_sigma_gain_db": 3.0,
        "wavelet_wrong_sigma_oracle_gap_db": 0.8,
        "nlm_wrong_sigma_gain_db": 2.5,
    },
    # tests/learned/test_n2v.py
    # PSNR gains (dB, 8-bit quantised PSNR) of the small CPU configurations below, measured on this
    # machine (torch 2.14 CPU, float32); thresholds set a little under.
    "n2v": {
        # Set12 01 and 02, crops [64:160, 64:160], sigma 25 (seed 0, clipped); noisy 20.77 dB.
        # QUICK config (300 steps x 8 patches 32x32, lr 4e-3, width 16), one network for both crops,
        # 8-fold self-ensemble. Measured with 1 and 2 torch threads, seeds 0 and 1: gain 3.06-3.11 dB,
        # loss ratio 0.42-0.43. (A shorter 150-step, lr 8e-3 run varied from 2.0 to 4.2 dB with the thread
        # count on the colour crop, so the tests use this steadier budget.)
        "n2v_gray_gain_db": 2.8,
        # The same on CUDA (bfloat16 autocast): the H100 passed the 2.3 floor with the earlier 150-step config;
        # this config has not been measured there yet.
        "n2v_gray_gain_db_cuda": 2.3,
        # CBSD68 101085 crop [100:164, 100:164] RGB, sigma 25 (seed 1, clipped); noisy 20.63 dB.
        # QUICK config. Measured with 1 and 2 threads, seeds 0-2: gain 4.16-4.31 dB.
        "n2v_rgb_gain_db": 3.8,
    },
    # tests/models/test_restore.py
    #: Seam visibility (restorekit.tiling.seam_visibility) of blended tiles: measured 0.018 for Restormer (random
    #: weights, 64x96, tiles 48, overlap 24; global channel attention, so tiles differ) against 1.18 for the same
    #: tiles cut without blending (overlap 0), and 5e-7 (blended) / 2.7 (cut) for SwinIR.
    "restore_with_model": {"seam_visibility": 0.05},
    # tests/quality/test_noise_analysis.py
    # Measured on Set12 01, 02, 04, 05, 07 (256 x 256), clipped and 8-bit quantised noisy images, seeds below:
    #   white sigma 15: max |estimate - 15| 0.75, max |fit std - 15| 1.22; sigma 25: 1.24 and 0.28;
    #   signal dependence of white noise 0.00-0.25 (flag at 0.5); correlation excess of white noise -0.00-0.04.
    #   Poisson-Gaussian (std 20 at mid grey): signal dependence 0.90-1.00, fitted gain / true gain 0.92-1.09.
    #   Correlated (Gaussian-filtered, 1 px, std 20): excess 0.62-0.66 (flag at 0.12), flat-area std 14.9-16.4.
    #   JPEG q20: blockiness 1.49-1.80 (shifted crop 1.48-1.77; flag at 1.2); originals 1.01-1.09.
    "noise_analysis": {
        "white_sigma_abs_err255": {15: 1.5, 25: 1.8},
        "white_sigma_fit_abs_err255": {15: 2.0, 25: 2.0},
    },
    # tests/denoise/test_bm3d_quality.py
    # PSNR thresholds (dB), a little under the measured values (profile "np", CPU, float32).
    "bm3d": {
        # Set12 01 and 05, crop [64:192, 64:192], sigma 25, seeds 0/1: ours 27.881 / 27.426 (ref 27.933 / 27.455)
        "bm3d_set12_crop_sigma25_mean": 27.55,
        # Set12 08, crop [64:192, 64:192], sigma 50, seed 2: ours 30.237 (ref 30.183)
        "bm3d_set12_crop_sigma50": 30.1,
        # CBSD68 first image, crop [100:196, 100:196], sigma 25 (CBM3D, opponent), seed 3: ours 28.593 (ref 28.583)
        "bm3d_cbsd68_crop_sigma25": 28.45,
        # ours - reference, averaged over the three gray crops: measured -0.009 dB (issue target: >= -0.05)
        "bm3d_vs_reference_gray_mean_diff": -0.05,
        # ours - reference on the colour crop: measured +0.010 dB (issue target: >= -0.05)
        "bm3d_vs_reference_colour_diff": -0.05,
    },
    # tests/learned/test_dip.py
    # Measured on this CPU (float32, seed 0), 2026-11-25; thresholds set a little under.
    "deep_image_prior": {
        # Set12 "05" crop [64:128, 64:128], sigma 25 (noise seed 1, clipped), width 16, depth 4, other settings
        # default (32 input channels), at most 400 iterations (noise-level stop at 390), under
        # torch.inference_mode(): 20.42 -> 26.19 dB (+5.77).
        "dip_gain_gray_sigma25_db": 5.3,
        # CBSD68 first image crop [100:148, 200:248], sigma 25 (noise seed 2, clipped), width 16, depth 4,
        # 300 iterations: 20.83 -> 26.24 dB (+5.41).
        "dip_gain_rgb_sigma25_db": 5.0,
        # Same gray crop, no code perturbation and no averaging (fast overfitting), learning rate 0.02:
        # noise-level early stop (sigma estimated 25.6) at 110 iterations 24.12 dB; all 300 iterations 21.89 dB (+2.23).
        "dip_early_stop_over_last_iterate_db": 1.8,
    },
}

# tests/enhance/test_retinex.py
# CBSD68 101085, 102061, 105025, 108005, crop [40:200, 60:252] (8-bit), scales 15/80/250 relative
# (2.88, 15.36, 48 px), clipping 1 %/1 %, CPU float32. Measured: mean |ours - independent numpy/scipy IPOL
# reference| at most 8.4e-5 grey levels (MSR, MSRCR, MSRCP); LOE mean MSRCP 470.0, MSRCR 503.3.
ALL_THRESHOLDS["retinex"] = {
    # the bound is 1 grey level (1/255); set far tighter, still well above float32 rounding
    "reference_mad_grey_levels_max": 0.01,
    "msrcp_loe_mean_max": 500.0,
    "msrcr_loe_mean_max": 535.0,
}

# tests/enhance/test_color_enhance.py, tests/enhance/test_white_balance.py (Colour Enhance, white balance).
# ColorChecker (BabelColor sRGB values, 6x6 px patches), vibrance +0.5, other settings default (skin protection 0.8):
#   skin dE_OK measured 0.0042 (dark skin) / 0.0044 (light skin); without protection 0.0177 / 0.0199.
#   chroma gain measured blue sky +32.7 %, foliage +31.3 %, bluish green +26.1 %, blue flower +29.7 %.
#   unclamped output in [0, 1] within 1e-6 (gamut mapping by chroma reduction, 12 bisection steps).
# White balance, angular error between estimated and true illuminant (linear RGB), 8-bit cast images:
#   gray_world on two CBSD68 crops made exactly grey-world, Planckian 4000 K / 10000 K casts: 0.022 / 0.019 deg.
#   white_patch (99th percentile, clipped pixels left out) on a synthetic scene with a white card and 0.3 %
#   clipped highlights, 4000 K cast: 0.23 deg (plain max-RGB: 20.6 deg).
ALL_THRESHOLDS["color_enhance"] = {
    "skin_delta_e_ok_max": 0.02,
    "muted_chroma_gain_min": 0.20,
    "gamut_tolerance": 1e-6,
    "wb_gray_world_angle_deg": 1.0,
    "wb_white_patch_angle_deg": 1.0,
}
# tests/enhance/test_homomorphic.py, test_phase_preserving.py, test_adaptive_frequency.py (frequency-domain enhance).
# Resolution independence: Set12 (all 12), pre-blurred with a Gaussian of 1 px so the half-size image holds the same
# content; PSNR (8-bit) between f(area-downsample(x)) and area-downsample(f(x)), defaults.
#   homomorphic relative mode: min 45.06 dB, mean 52.14 dB (absolute mode, for contrast: min 23.75, mean 27.81)
#   phase-preserving: min 50.00 dB, mean 53.66 dB
# Mean-brightness drift (grey levels) on Set12 and synthetic gradients, defaults and strong settings: at most 0.0018.
# Phase-preserving phase error (float64, periodic border, unclamped, coefficients > 1e-6 of the largest): 1.2e-13 rad.
# Adaptive frequency filter, Set12 (12 images) + white noise sigma 15 (seed = index, clipped), defaults (sigma
# estimated): PSNR gain over the noisy input (24.67 dB mean) mean +5.919 dB, smallest +4.534 dB (06);
# unit-gain reconstruction (sigma 0) max error 4.2e-7 (float32).
ALL_THRESHOLDS["frequency_enhance"] = {
    "homomorphic_half_size_psnr_min_db": 44.0,
    "homomorphic_absolute_half_size_psnr_mean_max_db": 30.0,  # absolute mode must fail the resolution test
    "phase_preserving_half_size_psnr_min_db": 48.5,
    "drift_max_grey": 0.02,
    "phase_error_max_rad": 1e-5,
    "adaptive_frequency_sigma15_gain_mean_db": 5.7,
    "adaptive_frequency_sigma15_gain_min_db": 4.3,
    "adaptive_frequency_unit_gain_max_err": 1e-5,
}
# tests/enhance/test_auto_clahe.py
# Auto CLAHE choice (240x240 analysis copy) against the same entropy-curvature criterion swept at full
# resolution with clahe() (same sweeps: 13 clip limits 1-16, 7 grids 2-16), Set12 03, 04, 08, 10, 11: the
# same clip limit on all five, tiles within one step (max difference 1 step). On all 12 Set12 images: clip
# limit within one step on 11 (image 07 picks 1.0 against 16 at full resolution), tiles within one step on 12.
ALL_THRESHOLDS["auto_clahe"] = {
    "auto_clahe_vs_full_sweep_max_steps": 1,
}
# tests/enhance/test_adaptive_frequency.py, colour: CBSD68 first 5 images (sorted; 481x321), white noise sigma 15 on
# every RGB channel (seed = index, clipped), defaults (opponent colour space, sigma estimated): PSNR gain over the
# noisy input measured +4.18, +6.16, +7.46, +9.20, +5.77 dB (mean +6.55).
ALL_THRESHOLDS["frequency_enhance_color"] = {
    "adaptive_frequency_cbsd68_sigma15_gain_mean_db": 6.3,
    "adaptive_frequency_cbsd68_sigma15_gain_min_db": 4.0,
}
# tests/enhance/test_clahe.py (high-precision path)
# CLAHE (defaults: clip 2, 8x8 tiles, 256 bins) of a 256x256 ramp of 65536 levels k/65535: distinct output
# levels at 16 bits 37305 with the linear (auto) mapping, 242 with the lookup mapping. Issue target: > 4096.
ALL_THRESHOLDS["clahe"]["clahe_16bit_ramp_min_levels"] = 4096
# tests/grain/test_synthesis.py
# Grain Add synthesis on flat mid-grey 128x128 (4 frames, seed 2), re-analysed radial spectrum (16 bins) of
# the grain layer against the requested one (analytic PSD of the AR / Gaussian filter x s^2): the bound is the
# 0.5 dB target; mean shift of the added grain on smooth content in [0.15, 0.85] (target 0.002).
ALL_THRESHOLDS["grain_synthesis"] = {
    "spectrum_db": 0.5,
    "mean_shift": 0.002,
}
# tests/quality/test_niqe.py, test_brisque.py, test_piqe.py
# No-reference measures against independent implementations on 6 full Set12/CBSD68 images (golden values in
# the tests): measured largest relative differences NIQE 9.4e-5 (BasicSR 1.4.2), BRISQUE 5.4e-4 (pyiqa 0.1.16
# brisque 'original', float64 window), PIQE 3.0e-8 (pypiqe 1.2 scaled as MATLAB). Bounds: the targets.
ALL_THRESHOLDS["nr_quality"] = {
    "niqe_rel": 0.01,
    "brisque_rel": 0.01,
    "piqe_rel": 1e-3,
}
# tests/enhance/test_bands.py and tests/enhance/test_multiscale.py
# Fine-detail energy (mean square of x - GaussianBlur(x, sigma 1 px)) of the result divided by that of the input,
# Set12 01, 05 (256 x 256) and 08 (512 x 512), gray, output clamped to [0, 1].
# Frequency Bands, 4 bands, gain on band 0 only (periods 2-4 px); Multiscale Detail, fine_gain only (same band on
# these sizes: 0.5 % of <= 800 px is raised to 4 px). Measured ratios per image (01, 05, 08):
#   fft       gain 2: 2.595 2.365 2.473   gain 0.5: 0.487 0.614 0.599
#   laplacian gain 2: 2.926 3.051 3.394   gain 0.5: 0.309 0.362 0.353
# Multiscale Detail on CBSD68 101085, 101087, 102061 (top-left 256 x 256, RGB, Oklab lightness), fine_gain 2, luma
# fine energy ratio: fft 2.800 2.600 2.549; laplacian 3.210 3.047 2.822; median |d Oklab a, b| 0.00000.
ALL_THRESHOLDS["frequency_bands"] = {
    "fft_fine_gain2_hf_ratio_min": 2.2,
    "fft_fine_gain05_hf_ratio_max": 0.66,
    "laplacian_fine_gain2_hf_ratio_min": 2.75,
    "laplacian_fine_gain05_hf_ratio_max": 0.40,
}
ALL_THRESHOLDS["multiscale_detail"] = {
    "fft_fine_gain2_hf_ratio_min": 2.2,
    "fft_fine_gain05_hf_ratio_max": 0.66,
    "laplacian_fine_gain2_hf_ratio_min": 2.75,
    "laplacian_fine_gain05_hf_ratio_max": 0.40,
    "fft_color_fine_gain2_hf_ratio_min": 2.4,
    "laplacian_color_fine_gain2_hf_ratio_min": 2.65,
    "oklab_chroma_median_abs_change_max": 1e-3,
}
# tests/sharpen/test_smart.py, test_cas.py, test_unsharp.py (fixtures built in the tests: 64x64 vertical steps
# 0.2->0.8 and 0.4->0.6, sharp or Gaussian-blurred with sigma 1.5 (10-90 % rise 3.99 px); flat 0.2 / 0.5 / 0.8
# with white noise sigma 0.02, seed 0, 128x128, 8 px border excluded).
# Smart Sharpen at defaults, measured: rise 3.99 -> 2.27 px (43 % shorter) on both steps, gray and RGB;
# overshoot 0.25 % of the step height; flat-noise gain 1.00. Bounds are the targets.
# CAS at its defaults (sharpness 0.5, linear, luminance), measured: overshoot on the sharp steps 17.7 % / 23.5 %,
# flat-noise gain gray up to 2.26, RGB up to 1.72 (the peer pack's setting, sharpness 1 in sRGB on every channel,
# measured 47.1 % and 4.18 here).
# Unsharp Mask: flat-noise gain vs the closed form sqrt(sum h^2), measured relative error below 0.5 %.
ALL_THRESHOLDS["sharpen"] = {
    "smart_rise_reduction_min": 0.30,
    "smart_overshoot_max": 0.02,
    "smart_noise_gain_max": 1.2,
    "cas_overshoot_max": 0.28,
    "cas_noise_gain_gray_max": 2.5,
    "cas_noise_gain_rgb_max": 1.9,
    "unsharp_noise_gain_rel_err": 0.01,
}

# Issue 19: full-reference measures against piq 0.8 (measured max |ours - piq| on 20 pairs:
# MS-SSIM 5.4e-7, GMSD 7.5e-9, FSIM 1.8e-7, VIF 1.4e-6, HaarPSI 3.6e-6), and no-reference
# measures against scikit-image (blur 9.3e-8 abs, GLCM properties 1.1e-7 relative).
ALL_THRESHOLDS["full_reference"] = {"vs_piq_abs": 1e-4}
ALL_THRESHOLDS["no_reference"] = {"blur_vs_skimage_abs": 1e-6, "glcm_vs_skimage_rel": 1e-5}

# Issue 17, Adaptive Enhance on four Set12 192x192 crops (measured: denoise at sigma 15 +4.06 to
# +6.98 dB; Gaussian blur sigma 1.5 +0.79 to +2.02 dB; luma spread of a 0.3x washed-out image
# +0.26 to +0.32).
ALL_THRESHOLDS["adaptive_enhance"] = {
    "denoise_sigma15_min_gain_db": 3.8,
    "sharpen_blur1.5_min_gain_db": 0.7,
    "contrast_min_spread_gain": 0.22,
}
# tests/grain/test_analysis.py, test_classify.py (issue 18). Synthetic grain from tests/grain/fixtures.py, fixed seeds.
# Measured: lag-3 AR coefficients on a 512^2 gradient, max |error| 0.0068 with the clean reference, 0.0076 blind;
# scaling on a 256^2 ramp (white grain, film / sensor curves), per-bin std error <= 2.2 % (reference and blind);
# grain size sigma_b 1/2/3/4 px: 1.00/2.02/3.07/3.95 with reference, 1.01/2.03/3.09/4.00 blind (<= 2.4 %);
# channel correlation 0 / 0.5 / 0.9: errors <= 0.005; classifier on 200 labelled 96x96 crops: 98.5 %.
# Bounds are the targets.
ALL_THRESHOLDS["grain_analysis"] = {
    "ar_max_err_reference": 0.03,
    "ar_max_err_blind": 0.065,
    "scaling_rel_err_reference": 0.05,
    "scaling_rel_err_blind": 0.10,
    "size_rel_err": 0.10,
    "channel_correlation_abs_err": 0.05,
    "classifier_accuracy": 0.95,
    "clean_max_std_255": 0.5,
}

# Grain Remove (tests/grain/test_removal.py): CBSD68 103070/123074/143090 crops 128 px, film-like luma AR grain
# (fixtures.AR3_LUMA, std 8 grey levels over the image), model from analyze_grain with the clean reference.
# Measured PSNR dB (ours bm3d vs white-noise CBM3D at the grain's overall std): 35.34 vs 32.00, 32.07 vs 30.85,
# 36.56 vs 32.42; wavelet +3.6/+1.3/+4.3 dB and nlm +4.5/+1.6/+5.2 dB over the grainy input (30.0/30.0/30.2).
ALL_THRESHOLDS["grain_removal"] = {
    "gain_over_white_cbm3d_db": 0.5,
    "min_psnr_db": {"103070": 34.8, "123074": 31.6, "143090": 36.0},
    "wavelet_min_gain_db": 0.8,
    "nlm_min_gain_db": 1.0,
}

# Grain Match (tests/grain/test_match.py): smooth fixture content 160 px, reference grain Gaussian size 1.2 px,
# film curve 9 grey levels at mid-grey; re-analysed output vs reference (blind): std errors <= 1.3 %, size errors
# <= 4 % with synthesis gaussian; auto (AR) std errors <= 1 % on AR-pattern grain. With remove_existing the
# correlation of (output - clean) with the target's own grain fell from ~0.6 to 0.12-0.19.
ALL_THRESHOLDS["grain_match"] = {
    "std_rel_err": 0.15,
    "size_rel_err": 0.15,
    "removed_grain_max_corr": 0.3,
    "kept_grain_min_corr": 0.45,
}

# Blind grain analysis of real photographs (tests/grain/test_analysis.py, *_photographs): Set12 (all 12) and CBSD68
# 101085/103070/108005/123074/143090, centre crops 256 px, 8-bit. Counts are of the 17 images.
# Measured clean: mean luma std <= 2 grey levels on 8/17 (median 2.07; 101085 10.3, 108005 7.5: texture everywhere),
# clean or whole scaling curve <= 2 on 4/17. White Gaussian noise (luma truth sigma * 0.668 for RGB), blind std
# within 15 %: sigma 5: 7/17 (median +23 %), 10: 12/17 (median +6.5 %), 20: 15/17 (median +4.6 %); size <= 0.7 px
# 16/17, 17/17, 17/17; class sensor_noise 15/17, 17/17, 17/17. Film-like grain (fixtures.film_grain_on: size 1.5 px,
# mid-tone peak, std 8 over the image): std within 15 % of the true curve over the measured bins 11/17 (median
# +8.6 %), size within 20 % 16/17, class film_grain 16/17.
ALL_THRESHOLDS["grain_analysis_real"] = {
    "clean_std_255": 2.0,
    "clean_count": 8,
    "clean_median_std_255": 2.5,
    "clean_curve_le_2_count": 4,
    "white5_within_15pct": 7,
    "white10_within_15pct": 12,
    "white20_within_15pct": 15,
    "white5_size_le_0p7": 16,
    "white10_size_le_0p7": 17,
    "white20_size_le_0p7": 17,
    "white5_sensor": 15,
    "white10_sensor": 17,
    "white20_sensor": 17,
    "film_within_15pct": 11,
    "film_size_within_20pct": 16,
    "film_class": 16,
}

# TV Denoise (tests/denoise/test_tv.py): Set12, 128x128 centre crops (CPU time), noise seed = index, clipped.
# Measured mean PSNR, ours (Chambolle, automatic weight from the given sigma, calibrated on Train400) vs the best of
# a 10-weight sweep (0.3-1.2 sigma) of skimage denoise_tv_chambolle (an oracle picked on the test set itself):
#   sigma 15: 29.644 vs 29.653 dB; sigma 25: 26.887 vs 26.896 dB (ours 0.009 dB below the oracle at both).
ALL_THRESHOLDS["tv_denoise"] = {
    "gain_over_skimage_best_db": -0.02,
    "min_psnr_db": {15: 29.5, 25: 26.75},
}

# Estimate Blur (tests/deblur/test_estimate.py): Set12 256 px centre crops, blur + white noise 2.55/255 (reflect).
# Measured (all 12 images, bench/bench_estimate_blur.py): motion L {9,15,21} x angle {0,30,45,90,135} angle <= 5 deg
# and length <= 15 %: 174/180 (96.7 %); on the test subset 01/05/10 see the test. Gaussian sigma {1,1.5,2,3}
# within 10 %: about 70 % (the 1/f prior fails on some images, e.g. 02 house +30-40 %).
ALL_THRESHOLDS["estimate_blur"] = {
    "motion_pass_rate": 0.9,
    "gaussian_pass_rate": 0.75,
    "gaussian_max_rel_err": 0.25,
    "deblur_gap_db": 1.0,
}

# Pipelines (Smart Restore / Restore Pipeline), CBSD68 crops 101085/102061/103070 (144 px), measured 2026-12-07
# on the CPU (wavelet denoiser): PSNR gains noise σ15 +5.3..7.8 dB, Gaussian blur 1.5 + σ5 +1.4..1.9 dB,
# contrast 40 % + σ10 +6.9..10.1 dB (160 px crops of 4 images); clean images: every stage skipped (inf dB).
ALL_THRESHOLDS["pipelines"] = {
    "smart_min_gain_db": 0.3,
    "smart_mean_gain_db": {"noise": 4.0, "blur+noise": 0.8, "low contrast+noise": 5.0},
    "smart_clean_min_psnr_db": 45.0,
}
# Estimate Blur, Wiener (auto) with the estimated vs the true PSF on Set12/05: motion 15@30 0.10 dB, 9@90 -0.01 dB,
# Gaussian 2.0 px (estimated 2.49 px) 4.16 dB.
ALL_THRESHOLDS["estimate_blur"]["deblur_gap_gaussian_db"] = 5.0
