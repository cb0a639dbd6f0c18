"""A small sentiment lexicon for the detection benchmark's discovery figures: how much of discovery's
top 3 on real snippets is real sentiment (not a shortcut). Words only, lowercase.

Written by hand for this benchmark from common English evaluative words (the kind general opinion
lexicons such as Hu & Liu's 2004 list hold, and film reviews use); not copied from any lexicon file,
and not drawn from the snippets. Incomplete by design: the share it gives is a lower bound.
"""

POSITIVE = """
good great fine nice superb lovely excellent wonderful amazing brilliant best better beautiful fantastic
terrific outstanding remarkable marvelous marvellous magnificent delightful charming enjoyable entertaining
fun funny hilarious witty clever smart intelligent thoughtful moving touching powerful gripping compelling
engaging engrossing absorbing riveting thrilling exciting refreshing original fresh inventive imaginative
creative inspired inspiring uplifting heartfelt heartwarming warm sweet tender poignant affecting haunting
stunning gorgeous elegant graceful rich vivid strong solid sharp crisp smooth polished accomplished
masterful masterpiece triumph winner gem treat pleasure joy joyous love loved lovable likable likeable
appealing attractive satisfying rewarding worthwhile worthy admirable impressive effective successful
succeeds perfect perfectly wonderfully beautifully brilliantly nicely well finest greatest favorite
favourite classic memorable unforgettable honest sincere genuine authentic true real rare unique
intriguing fascinating interesting insightful perceptive wise profound deep subtle nuanced layered
intelligently gracefully confident assured energetic lively vibrant spirited playful charm charismatic
pleasant pleasing cheerful happy hopeful optimistic tasty delicious fabulous superior splendid sublime
exquisite dazzling breathtaking spectacular sensational phenomenal incredible awesome cool decent solidly
recommended recommend enjoy enjoyed enjoys laugh laughs laughter smile glorious triumphant victorious
ambitious bold daring fearless courageous brave gutsy provocative astute keen fair balanced competent
capable skilled skillful skilful talented gifted energizing invigorating mesmerizing hypnotic enchanting
magical captivating irresistible winning endearing affectionate generous humane compassionate kind
""".split()

NEGATIVE = """
bad awful terrible poor dull weak worst worse boring bored tedious tiresome tired stale flat bland lifeless
pointless mindless senseless silly stupid dumb idiotic ridiculous absurd lame mediocre forgettable
uninspired unoriginal derivative predictable formulaic clichéd cliched cliche trite hackneyed contrived
forced awkward clumsy sloppy messy muddled confused confusing incoherent disjointed uneven choppy
overlong long slow sluggish plodding tedium dreary drab dreadful horrible horrid atrocious abysmal
pathetic painful unbearable insufferable annoying irritating grating obnoxious offensive ugly nasty mean
cheap shallow hollow empty thin superficial pretentious smug self-indulgent indulgent overwrought
overblown bloated heavy-handed preachy sentimental sappy mawkish maudlin schmaltzy saccharine cloying
manipulative cynical lazy careless inept incompetent amateurish failed fails failure fail flop disaster
disappointing disappointment disappoints mess waste wasted worthless useless unfunny humorless joyless
charmless soulless tasteless witless clueless lousy crappy crummy rotten trash garbage junk sour bitter
sad depressing gloomy grim bleak miserable unpleasant unwatchable unconvincing implausible unbelievable
unlikable unlikeable unsympathetic wooden stiff leaden ponderous sterile cold distant monotonous repetitive
numbing exhausting grueling frustrating frustrated ugh meh sorry regrettable unfortunately lacking lacks
lackluster lacklustre problem problems flawed flaws faulty broken misguided misfire misfires botched
wrong hate hated hates dislike ill unpleasantly badly poorly horribly terribly awfully sadly nothing
""".split()

LEXICON = frozenset(POSITIVE) | frozenset(NEGATIVE)
